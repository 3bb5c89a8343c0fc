package packages

import "github.com/imgprep/imgprep/pkg/ops/internal/pathop"

// CacheDirs are the package caches whose files package-manager-cache
// removes (the directories stay).
var CacheDirs = []string{"/var/cache/apt/archives", "/var/cache/dnf", "/var/cache/yum", "/var/cache/zypp*"}

// ManagerCache returns the package-manager-cache operation.
func ManagerCache() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "package-manager-cache", Description: "Remove package manager cache", Default: true,
		Rules: pathop.Globs(pathop.RemoveFilesBelow, CacheDirs...),
	})
}

// RPMDB returns the rpm-db operation: Berkeley DB environment files and
// locks, which RPM recreates.
func RPMDB() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "rpm-db", Description: "Remove host-specific RPM database files", Default: true,
		Rules: pathop.Globs(pathop.RemoveNonDir, "/var/lib/rpm/__db.*"),
	})
}

// YumUUID returns the yum-uuid operation.
func YumUUID() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "yum-uuid", Description: "Remove the yum UUID", Default: true,
		Rules: pathop.Globs(pathop.RemoveNonDir, "/var/lib/yum/uuid"),
	})
}

// RHNSystemID returns the rhn-systemid operation.
func RHNSystemID() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "rhn-systemid", Description: "Remove the RHN system ID", Default: true,
		Rules: pathop.Globs(pathop.RemoveNonDir, "/etc/sysconfig/rhn/systemid", "/etc/sysconfig/rhn/osad-auth.conf"),
	})
}

// RHSubscriptionManager returns the rh-subscription-manager operation.
func RHSubscriptionManager() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "rh-subscription-manager", Description: "Remove the RH subscription manager files", Default: true,
		Rules: pathop.Globs(pathop.RemoveAll, "/etc/pki/consumer/*", "/etc/pki/entitlement/*"),
	})
}

// SmoltUUID returns the smolt-uuid operation.
func SmoltUUID() *pathop.Op {
	return pathop.New(pathop.Spec{
		Name: "smolt-uuid", Description: "Remove the Smolt hardware UUID", Default: true,
		Rules: pathop.Globs(pathop.RemoveNonDir, "/etc/sysconfig/hw-uuid", "/etc/smolt/uuid", "/etc/smolt/hw-uuid"),
	})
}
