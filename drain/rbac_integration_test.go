package drain_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/node-fleet/node-fleet/drain"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/kube"
	"github.com/node-fleet/node-fleet/metrics"
)

// deployedRole reads the ClusterRole that deploy/server-init.sh applies to
// the K3s server for the autoscaler.
func deployedRole(t *testing.T) *rbacv1.ClusterRole {
	t.Helper()
	b, err := os.ReadFile("../deploy/server-init.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		if !strings.Contains(doc, "\nkind: ClusterRole\n") {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("the ClusterRole of deploy/server-init.sh: %v\n%s", err, doc)
		}
		return obj.(*rbacv1.ClusterRole)
	}
	t.Fatal("deploy/server-init.sh has no ClusterRole")
	return nil
}

// asRole returns a client that acts as a user bound to rules only, through
// impersonation by the test's admin, once the API server's authorizer
// lets it list nodes.
func asRole(t *testing.T, c *kubetest.Cluster, rules []rbacv1.PolicyRule) kube.Interface {
	t.Helper()
	ctx := t.Context()
	name := kubetest.Name("node-fleet-rbac")
	user := name
	roles, bindings := c.Client.RbacV1().ClusterRoles(), c.Client.RbacV1().ClusterRoleBindings()
	if _, err := roles.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bindings.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := t.Context()
		_ = bindings.Delete(ctx, name, metav1.DeleteOptions{})
		_ = roles.Delete(ctx, name, metav1.DeleteOptions{})
	})
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	// The client the Lambda function and the daemon use.
	cs, err := kube.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 30*time.Second, "the role to take effect", func() (bool, error) {
		_, err := cs.ListNodes(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, nil
	})
	return cs
}

// TestIntegrationDeployedRBACIsEnoughAndNeeded: the ClusterRole that
// deploy/server-init.sh gives the autoscaler lets a Manager list nodes
// whose pods have claims, and drain one, and lets metrics.KubeScheduler
// read the scheduler's view; without its rule on
// persistentvolumes and persistentvolumeclaims, ListNodes is refused
// rather than passing node-local data as evictable.
func TestIntegrationDeployedRBACIsEnoughAndNeeded(t *testing.T) {
	t.Parallel()
	c := kubetest.Connect(t)
	ns := c.Namespace(t, "rbac")
	role := deployedRole(t)
	local := addNode(t, c, ns, kubetest.NodeOptions{})
	zonal := addNode(t, c, ns, kubetest.NodeOptions{})
	c.StartKubelet(t, ns, kubetest.KubeletOptions{FinishTerminating: true})
	pause := []corev1.Container{{Name: "p", Image: "registry.k8s.io/pause:3.10"}}
	for claim, spec := range map[string]corev1.PersistentVolumeSpec{"data-local": kubetest.LocalPathVolume(local), "data-zonal": kubetest.ZonalVolume("eu-west-1a")} {
		c.BoundClaim(t, ns, claim, spec)
	}
	for name, node := range map[string]string{"local": local, "zonal": zonal} {
		c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PodSpec{NodeName: node, Containers: pause,
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-" + name}}}}}})
	}
	manager := func(cs kube.Interface) *drain.Manager {
		m, err := drain.New(drain.Config{Client: cs, NodeSelector: runLabel + "=" + ns, EvictUnmanagedPods: true,
			PollInterval: 100 * time.Millisecond, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	cs := asRole(t, c, role.Rules)
	m := manager(cs)
	nodes, err := m.ListNodes(t.Context())
	if err != nil {
		t.Fatalf("ListNodes with the deployed role: %v", err)
	}
	for _, n := range nodes {
		if blocked := n.ScaleDownBlocker != ""; blocked != (n.Name == local) {
			t.Errorf("node %s blocker %q; only %s may be blocked", n.Name, n.ScaleDownBlocker, local)
		}
	}
	if err := m.Drain(t.Context(), zonal); err != nil {
		t.Errorf("Drain with the deployed role: %v", err)
	}
	// The scheduler's view reads nodes, pods and DaemonSets cluster-wide.
	k, err := metrics.NewKubeScheduler(metrics.KubeSchedulerConfig{Client: cs, InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Collect(t.Context()); err != nil {
		t.Errorf("the scheduler's view with the deployed role: %v", err)
	}

	without := slices.DeleteFunc(slices.Clone(role.Rules), func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.Resources, "persistentvolumeclaims")
	})
	if len(without) != len(role.Rules)-1 {
		t.Fatalf("the deployed role has no single rule on persistentvolumeclaims: %+v", role.Rules)
	}
	_, err = manager(asRole(t, c, without)).ListNodes(t.Context())
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "persistentvolumeclaims") {
		t.Errorf("ListNodes without the volumes rule: %v, want forbidden on persistentvolumeclaims", err)
	}
}
