package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// setup -apply leaves alone what a Helm release of the chart installed
// (its ClusterRoleBinding names the release's namespace: rewriting it
// to node-fleet's would take the running daemon's rights away and Helm's
// ownership with it), and keeps the labels and annotations others put on
// the objects it updates (a namespace's pod-security labels).
func TestApplyRBACKeepsWhatOthersOwn(t *testing.T) {
	helm := metav1.ObjectMeta{Name: "node-fleet-autoscaler",
		Labels:      map[string]string{"app.kubernetes.io/managed-by": "Helm"},
		Annotations: map[string]string{"meta.helm.sh/release-name": "node-fleet", "meta.helm.sh/release-namespace": "kube-system"}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: helm,
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "node-fleet-autoscaler"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "autoscaler", Namespace: "kube-system"}}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "node-fleet",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}, Annotations: map[string]string{"owner": "platform"}}}
	kc := fake.NewClientset(binding, ns)
	var log bytes.Buffer
	if err := applyRBACObjects(t.Context(), kc, &log); err != nil {
		t.Fatal(err)
	}
	gotBinding, err := kc.RbacV1().ClusterRoleBindings().Get(t.Context(), binding.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(binding.Subjects, gotBinding.Subjects); d != "" || gotBinding.Labels["app.kubernetes.io/managed-by"] != "Helm" {
		t.Errorf("the Helm release's binding was changed (-want +got):\n%s\nlabels %v", d, gotBinding.Labels)
	}
	if !strings.Contains(log.String(), "clusterrolebinding/node-fleet-autoscaler: left alone, managed by Helm release node-fleet") {
		t.Errorf("the log does not say what was left alone:\n%s", log.String())
	}
	gotNS, err := kc.CoreV1().Namespaces().Get(t.Context(), "node-fleet", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ns.Labels, gotNS.Labels); d != "" {
		t.Errorf("the namespace's labels (-want +got):\n%s", d)
	}
	if d := cmp.Diff(ns.Annotations, gotNS.Annotations); d != "" {
		t.Errorf("the namespace's annotations (-want +got):\n%s", d)
	}
	// What nobody else owns is created.
	if _, err := kc.RbacV1().ClusterRoles().Get(t.Context(), "node-fleet-autoscaler", metav1.GetOptions{}); err != nil {
		t.Errorf("the ClusterRole: %v", err)
	}
}

// setup -apply keeps what the operator added to the ServiceAccount (the
// image pull secret of a private daemon image): the daemon's pods would
// otherwise no longer pull their image.
func TestApplyRBACKeepsTheServiceAccountsPullSecrets(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "autoscaler", Namespace: "node-fleet"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "ghcr"}}}
	kc := fake.NewClientset(sa)
	if err := applyRBACObjects(t.Context(), kc, io.Discard); err != nil {
		t.Fatal(err)
	}
	got, err := kc.CoreV1().ServiceAccounts("node-fleet").Get(t.Context(), "autoscaler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sa.ImagePullSecrets, got.ImagePullSecrets); d != "" {
		t.Errorf("the ServiceAccount's image pull secrets (-want +got):\n%s", d)
	}
}
