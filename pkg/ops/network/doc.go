// Package network holds virt-sysprep's network operations:
// dhcp-client-state, dhcp-server-state, net-hostname, net-hwaddr,
// net-nmconn, udev-persistent-net and firewall-rules, with its names,
// defaults and globs (libguestfs guestfs-tools,
// sysprep/sysprep_operation_*.ml).
//
// net-hostname and net-hwaddr edit Red Hat's ifcfg files
// (/etc/sysconfig/network-scripts/ifcfg-*, KEY=value lines as
// ifcfg(5)/initscripts read them): they drop whole lines starting with
// HOSTNAME= and DHCP_HOSTNAME=, or HWADDR=, and keep every other byte of
// the file, where virt-sysprep rewrites the file from its lines. virt-sysprep
// runs them, and net-nmconn, on Red Hat-family guests only; imgprep lets
// the paths decide.
package network
