// Package network holds virt-sysprep's network operations that edit files:
// net-hostname and net-hwaddr (libguestfs guestfs-tools,
// sysprep/sysprep_operation_net_*.ml); those that only remove paths
// (dhcp-client-state, dhcp-server-state, net-nmconn, udev-persistent-net,
// firewall-rules) are rows of pkg/ops/pathops.
//
// net-hostname and net-hwaddr edit Red Hat's ifcfg files
// (/etc/sysconfig/network-scripts/ifcfg-*, KEY=value lines as
// ifcfg(5)/initscripts read them): they drop whole lines starting with
// HOSTNAME= and DHCP_HOSTNAME=, or HWADDR=, and keep every other byte of
// the file, where virt-sysprep rewrites the file from its lines. virt-sysprep
// runs them on Red Hat-family guests only; imgprep lets the paths decide.
package network
