// Package netdata implements the netdata operation: it removes the
// identity of a Netdata agent from a template so that each clone registers
// as a new node, and can write a claim.conf so clones claim themselves to
// Netdata Cloud on first start.
//
// Spec: Netdata's "VM Templates and Clones" guide
// (https://learn.netdata.cloud/docs/netdata-agent/maintenance/vm-templates-and-clones)
// and the agent's sources: the machine GUID lives in
// /var/lib/netdata/registry/netdata.public.unique.id, status-netdata.json
// files (in /var/lib/netdata, /var/cache/netdata, /tmp, /run, /var/run)
// let the agent recover it, /var/lib/netdata/cloud.d/ holds the cloud link
// (claimed_id, keys, token), and /var/cache/netdata/netdata-meta.db* and
// context-meta.db* hold the node database. /etc/netdata/claim.conf, an
// INI [global] section with url, token, rooms, proxy and insecure, is kept
// or written, never removed.
package netdata
