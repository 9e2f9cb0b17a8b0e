package kube

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Interface is every call node-fleet makes to the API server. Its
// implementations are NewForConfig's Client and kube/clientset's adapter
// of a client-go clientset; tests may write their own.
//
// A list returns one page: opts.Limit bounds it and the list's Continue
// token, when not empty, asks for the next (opts.Continue). An empty
// namespace lists every namespace.
type Interface interface {
	Nodes
	Pods
	Volumes
	Workloads
}

// Nodes are the calls on Node objects.
type Nodes interface {
	// ListNodes returns one page of the nodes that opts selects.
	ListNodes(ctx context.Context, opts metav1.ListOptions) (*corev1.NodeList, error)
	// GetNode returns the node; a node that is gone is an error for
	// which errors.IsNotFound is true.
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
	// PatchNode patches the node (pt is the patch's type, e.g.
	// types.MergePatchType) and returns it as it is now; a node that is
	// gone is an error for which errors.IsNotFound is true.
	PatchNode(ctx context.Context, name string, pt types.PatchType, data []byte) (*corev1.Node, error)
	// DeleteNode deletes the Node object; a node already gone is an error
	// for which errors.IsNotFound is true.
	DeleteNode(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// Pods are the calls on Pods, their eviction included.
type Pods interface {
	// ListPods returns one page of the pods of namespace (every
	// namespace when empty) that opts selects.
	ListPods(ctx context.Context, namespace string, opts metav1.ListOptions) (*corev1.PodList, error)
	// GetPod returns the pod; a pod that is gone is an error for which
	// errors.IsNotFound is true.
	GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	// EvictPod asks the API server to evict the pod eviction names
	// (policy/v1 Eviction, the pods/eviction subresource), which checks
	// its PodDisruptionBudgets: a refusal is an error for which
	// errors.IsTooManyRequests is true, a pod already gone one for which
	// errors.IsNotFound is.
	EvictPod(ctx context.Context, eviction *policyv1.Eviction) error
}

// Volumes are the calls on PersistentVolumes and their claims.
type Volumes interface {
	// ListPersistentVolumes returns one page of the cluster's
	// PersistentVolumes.
	ListPersistentVolumes(ctx context.Context, opts metav1.ListOptions) (*corev1.PersistentVolumeList, error)
	// ListPersistentVolumeClaims returns one page of the claims of
	// namespace (every namespace when empty).
	ListPersistentVolumeClaims(ctx context.Context, namespace string, opts metav1.ListOptions) (*corev1.PersistentVolumeClaimList, error)
}

// Workloads are the calls on the objects that own or protect pods:
// DaemonSets and PodDisruptionBudgets.
type Workloads interface {
	// ListDaemonSets returns one page of the DaemonSets of namespace
	// (every namespace when empty).
	ListDaemonSets(ctx context.Context, namespace string, opts metav1.ListOptions) (*appsv1.DaemonSetList, error)
	// GetDaemonSet returns the DaemonSet; one that is gone is an error
	// for which errors.IsNotFound is true.
	GetDaemonSet(ctx context.Context, namespace, name string) (*appsv1.DaemonSet, error)
	// ListPodDisruptionBudgets returns one page of the
	// PodDisruptionBudgets of namespace (every namespace when empty).
	ListPodDisruptionBudgets(ctx context.Context, namespace string, opts metav1.ListOptions) (*policyv1.PodDisruptionBudgetList, error)
}
