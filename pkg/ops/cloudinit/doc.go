// Package cloudinit holds the cloud-init operation, which virt-sysprep
// lacks: what `cloud-init clean --logs` removes (cloud-init's
// cloudinit/cmd/clean.py): everything in /var/lib/cloud but seed/, and
// /var/log/cloud-init.log and /var/log/cloud-init-output.log with their
// rotations. With Options.Network it also removes the network
// configuration cloud-init rendered (clean --configs network): netplan's
// 50-cloud-init.yaml, ifupdown's 50-cloud-init(.cfg), NetworkManager's
// cloud-init files and systemd-networkd's 10-cloud-init-*.network.
package cloudinit
