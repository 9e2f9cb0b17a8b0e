package daemon

import (
	"strings"
	"testing"
)

// Two replicas on one host with one pid (two containers of a pod, both
// pid 1) still have different names for the lock.
func TestReplicasSharingHostAndPidHaveDifferentOwners(t *testing.T) {
	a, b := defaultOwner("shop"), defaultOwner("shop")
	if a == b {
		t.Errorf("two replicas are both %q", a)
	}
	if !strings.HasPrefix(a, "shop-daemon-") {
		t.Errorf("owner %q does not start with the cluster's id and -daemon-", a)
	}
}
