package e2e

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
)

// RepoRoot is the module's root directory (found from this file's path).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ApplyAutoscalerRBAC applies the Namespace, ServiceAccount, ClusterRole
// and ClusterRoleBinding that deploy/server-init.sh writes into K3s's
// manifests, read from that script (so that the scenario runs with the
// deployed least privilege, not a copy of it), and returns the
// ServiceAccount's namespace and name.
func ApplyAutoscalerRBAC(t testing.TB, c *Cluster) (ns, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "deploy", "server-init.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// The manifests are the heredoc written to node-fleet.yaml.
	text := string(b)
	i := strings.Index(text, "node-fleet.yaml\" <<'EOF'\n")
	if i < 0 {
		t.Fatal("deploy/server-init.sh: no node-fleet.yaml heredoc")
	}
	text = text[i+len("node-fleet.yaml\" <<'EOF'\n"):]
	text = text[:strings.Index(text, "\nEOF\n")]
	dec := serializer.NewCodecFactory(scheme.Scheme).UniversalDeserializer()
	ctx := context.Background()
	applied := 0
	for _, doc := range strings.Split(text, "\n---\n") {
		if !strings.Contains(doc, "\nkind: ") && !strings.HasPrefix(doc, "kind: ") {
			continue
		}
		obj, _, err := dec.Decode([]byte(doc), nil, nil)
		if err != nil {
			// The HelmChart (K3s's own kind) is no business of the
			// autoscaler's rights.
			continue
		}
		switch o := obj.(type) {
		case *corev1.Namespace:
			_, err = c.Admin.CoreV1().Namespaces().Create(ctx, o, metav1.CreateOptions{})
		case *corev1.ServiceAccount:
			ns, name = o.Namespace, o.Name
			_, err = c.Admin.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = c.Admin.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = c.Admin.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		default:
			// The token Secret: the scenario asks the TokenRequest API
			// instead (the token controller is off in the test
			// control plane).
			continue
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("apply %T from deploy/server-init.sh: %v", obj, err)
		}
		applied++
	}
	if applied < 4 || name == "" {
		t.Fatalf("deploy/server-init.sh: %d of Namespace, ServiceAccount, ClusterRole, ClusterRoleBinding applied", applied)
	}
	return ns, name
}
