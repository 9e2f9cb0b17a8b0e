package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/node-fleet/node-fleet/provision"
)

// rbacObjects decodes provision.RBAC: the Namespace, ServiceAccount,
// ClusterRole and ClusterRoleBinding.
func rbacObjects() ([]runtime.Object, error) {
	var out []runtime.Object
	for _, doc := range strings.Split(provision.RBAC(), "\n---\n") {
		if !strings.Contains(doc, "\nkind: ") && !strings.HasPrefix(doc, "kind: ") {
			continue // comments only
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("the RBAC manifest: %w", err)
		}
		out = append(out, obj)
	}
	return out, nil
}

// autoscalerRules are the ClusterRole's rules: every verb the autoscaler
// needs.
func autoscalerRules() ([]rbacv1.PolicyRule, error) {
	objs, err := rbacObjects()
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if r, ok := o.(*rbacv1.ClusterRole); ok {
			return r.Rules, nil
		}
	}
	return nil, fmt.Errorf("the RBAC manifest has no ClusterRole")
}

// defaultServiceAccount is the RBAC manifest's ServiceAccount,
// NAMESPACE/NAME.
func defaultServiceAccount() string {
	objs, _ := rbacObjects()
	for _, o := range objs {
		if sa, ok := o.(*corev1.ServiceAccount); ok {
			return sa.Namespace + "/" + sa.Name
		}
	}
	return ""
}

// applyRBAC creates the RBAC objects, or updates those already there to
// the manifest's content.
func applyRBAC(ctx context.Context, rc *rest.Config, log io.Writer) error {
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	return applyRBACObjects(ctx, kc, log)
}

// applyRBACObjects is applyRBAC through a client.
func applyRBACObjects(ctx context.Context, kc kubernetes.Interface, log io.Writer) error {
	objs, err := rbacObjects()
	if err != nil {
		return err
	}
	for _, o := range objs {
		var what, held string
		switch v := o.(type) {
		case *corev1.Namespace:
			what = "namespace/" + v.Name
			held, err = upsert(ctx, v, kc.CoreV1().Namespaces(), nil)
		case *corev1.ServiceAccount:
			what = "serviceaccount/" + v.Name
			held, err = upsert(ctx, v, kc.CoreV1().ServiceAccounts(v.Namespace), keepAccountsOwn)
		case *rbacv1.ClusterRole:
			what = "clusterrole/" + v.Name
			held, err = upsert(ctx, v, kc.RbacV1().ClusterRoles(), nil)
		case *rbacv1.ClusterRoleBinding:
			what = "clusterrolebinding/" + v.Name
			held, err = upsert(ctx, v, kc.RbacV1().ClusterRoleBindings(), nil)
		default:
			return fmt.Errorf("the RBAC manifest has an unexpected %T", o)
		}
		if err != nil {
			return fmt.Errorf("apply %s: %w", what, err)
		}
		if held != "" {
			fmt.Fprintf(log, "%s: left alone, %s\n", what, held)
			continue
		}
		fmt.Fprintf(log, "applied %s\n", what)
	}
	return nil
}

// object is what upsert needs of an object.
type object interface {
	comparable
	metav1.Object
	runtime.Object
}

// client is what upsert needs of a typed client.
type client[T object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// upsert creates obj, or updates the object of its name (keeping its
// resource version, the labels and annotations others put on it, and what
// keep carries over from it when keep is not nil) when it exists. An
// object a Helm release manages (the chart's RBAC, whose binding names the
// release's namespace) is left as it is: held says why.
func upsert[T object](ctx context.Context, obj T, c client[T], keep func(cur, obj T)) (held string, err error) {
	cur, err := c.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.Create(ctx, obj, metav1.CreateOptions{})
		return "", err
	case err != nil:
		return "", err
	}
	if release := helmRelease(cur); release != "" {
		return "managed by Helm release " + release + ": helm upgrade keeps it", nil
	}
	obj.SetResourceVersion(cur.GetResourceVersion())
	obj.SetLabels(merged(cur.GetLabels(), obj.GetLabels()))
	obj.SetAnnotations(merged(cur.GetAnnotations(), obj.GetAnnotations()))
	if keep != nil {
		keep(cur, obj)
	}
	_, err = c.Update(ctx, obj, metav1.UpdateOptions{})
	return "", err
}

// keepAccountsOwn carries over what the manifest's ServiceAccount leaves
// unset and others set on the one there: its image pull secrets (a private
// daemon image's), its secrets and whether its token is mounted.
func keepAccountsOwn(cur, obj *corev1.ServiceAccount) {
	if len(obj.ImagePullSecrets) == 0 {
		obj.ImagePullSecrets = cur.ImagePullSecrets
	}
	if len(obj.Secrets) == 0 {
		obj.Secrets = cur.Secrets
	}
	if obj.AutomountServiceAccountToken == nil {
		obj.AutomountServiceAccountToken = cur.AutomountServiceAccountToken
	}
}

// helmRelease names the Helm release that manages o ("node-fleet
// (namespace kube-system)"), or "".
func helmRelease(o metav1.Object) string {
	name := o.GetAnnotations()["meta.helm.sh/release-name"]
	if name == "" && o.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
		return ""
	}
	if name == "" {
		name = "(unnamed)"
	}
	if ns := o.GetAnnotations()["meta.helm.sh/release-namespace"]; ns != "" {
		name += " (namespace " + ns + ")"
	}
	return name
}

// merged is base with over's entries set on it; nil when both are empty.
func merged(base, over map[string]string) map[string]string {
	if len(base) == 0 && len(over) == 0 {
		return nil
	}
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, over)
	return out
}
