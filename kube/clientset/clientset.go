// Package clientset adapts a client-go clientset (kubernetes.Interface) to
// kube.Interface, for programs that already have one: pass
// clientset.New(cs) as drain.Config.Client or metrics' Kubernetes sources'
// Client.
//
// It is a package of its own because importing client-go's clientset
// links every API group of Kubernetes (see package kube): the Lambda
// function, which builds its client with kube.NewForConfig, does not
// import it.
package clientset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/node-fleet/node-fleet/kube"
)

// Client is a kube.Interface over a clientset. Its calls are the
// clientset's, errors included.
type Client struct {
	cs kubernetes.Interface
}

var _ kube.Interface = (*Client)(nil)

// New returns cs as a kube.Interface. cs must not be nil.
func New(cs kubernetes.Interface) *Client { return &Client{cs: cs} }

// Clientset returns the clientset the Client calls.
func (c *Client) Clientset() kubernetes.Interface { return c.cs }

// ListNodes implements kube.Nodes.
func (c *Client) ListNodes(ctx context.Context, opts metav1.ListOptions) (*corev1.NodeList, error) {
	return c.cs.CoreV1().Nodes().List(ctx, opts)
}

// GetNode implements kube.Nodes.
func (c *Client) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	return c.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}

// PatchNode implements kube.Nodes.
func (c *Client) PatchNode(ctx context.Context, name string, pt types.PatchType, data []byte) (*corev1.Node, error) {
	return c.cs.CoreV1().Nodes().Patch(ctx, name, pt, data, metav1.PatchOptions{})
}

// DeleteNode implements kube.Nodes.
func (c *Client) DeleteNode(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return c.cs.CoreV1().Nodes().Delete(ctx, name, opts)
}

// ListPods implements kube.Pods.
func (c *Client) ListPods(ctx context.Context, namespace string, opts metav1.ListOptions) (*corev1.PodList, error) {
	return c.cs.CoreV1().Pods(namespace).List(ctx, opts)
}

// GetPod implements kube.Pods.
func (c *Client) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return c.cs.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

// EvictPod implements kube.Pods.
func (c *Client) EvictPod(ctx context.Context, eviction *policyv1.Eviction) error {
	return c.cs.PolicyV1().Evictions(eviction.Namespace).Evict(ctx, eviction)
}

// ListPersistentVolumes implements kube.Volumes.
func (c *Client) ListPersistentVolumes(ctx context.Context, opts metav1.ListOptions) (*corev1.PersistentVolumeList, error) {
	return c.cs.CoreV1().PersistentVolumes().List(ctx, opts)
}

// ListPersistentVolumeClaims implements kube.Volumes.
func (c *Client) ListPersistentVolumeClaims(ctx context.Context, namespace string, opts metav1.ListOptions) (*corev1.PersistentVolumeClaimList, error) {
	return c.cs.CoreV1().PersistentVolumeClaims(namespace).List(ctx, opts)
}

// ListDaemonSets implements kube.Workloads.
func (c *Client) ListDaemonSets(ctx context.Context, namespace string, opts metav1.ListOptions) (*appsv1.DaemonSetList, error) {
	return c.cs.AppsV1().DaemonSets(namespace).List(ctx, opts)
}

// GetDaemonSet implements kube.Workloads.
func (c *Client) GetDaemonSet(ctx context.Context, namespace, name string) (*appsv1.DaemonSet, error) {
	return c.cs.AppsV1().DaemonSets(namespace).Get(ctx, name, metav1.GetOptions{})
}

// ListPodDisruptionBudgets implements kube.Workloads.
func (c *Client) ListPodDisruptionBudgets(ctx context.Context, namespace string, opts metav1.ListOptions) (*policyv1.PodDisruptionBudgetList, error) {
	return c.cs.PolicyV1().PodDisruptionBudgets(namespace).List(ctx, opts)
}
