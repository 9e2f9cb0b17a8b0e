package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Client is the Interface over client-go's REST client, with a scheme of
// only core/v1, policy/v1 and apps/v1. It is safe for concurrent use.
type Client struct {
	core, policy, apps rest.Interface
	params             runtime.ParameterCodec
}

var _ Interface = (*Client)(nil)

// NewScheme returns a scheme that knows the API groups Client uses
// (core/v1, policy/v1, apps/v1) and the meta/v1 options and statuses;
// nothing else.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, policyv1.AddToScheme, appsv1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// NewForConfig returns a Client on the connection c (a kubeconfig's, or
// rest.InClusterConfig's). As client-go's kubernetes.NewForConfig does, it
// shares one HTTP client and one client-side rate limiter (c.QPS and
// c.Burst, client-go's defaults when zero; or c.RateLimiter) among the API
// groups. It makes no request.
func NewForConfig(c *rest.Config) (*Client, error) {
	if c == nil {
		return nil, errors.New("kube: no connection (rest.Config)")
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, fmt.Errorf("kube: scheme: %w", err)
	}
	codecs := serializer.NewCodecFactory(scheme)
	base := rest.CopyConfig(c)
	if base.UserAgent == "" {
		base.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	if base.RateLimiter == nil && base.QPS > 0 {
		if base.Burst <= 0 {
			return nil, fmt.Errorf("kube: Burst must be positive when QPS is set, got %d", base.Burst)
		}
		base.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(base.QPS, base.Burst)
	}
	httpClient, err := rest.HTTPClientFor(base)
	if err != nil {
		return nil, fmt.Errorf("kube: HTTP client for %s: %w", c.Host, err)
	}
	client := func(gv schema.GroupVersion, apiPath string) (rest.Interface, error) {
		cfg := rest.CopyConfig(base)
		cfg.GroupVersion, cfg.APIPath = &gv, apiPath
		cfg.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(scheme, codecs).WithoutConversion()
		rc, err := rest.RESTClientForConfigAndClient(cfg, httpClient)
		if err != nil {
			return nil, fmt.Errorf("kube: client for %s: %w", gv, err)
		}
		return rc, nil
	}
	k := &Client{params: runtime.NewParameterCodec(scheme)}
	if k.core, err = client(corev1.SchemeGroupVersion, "/api"); err != nil {
		return nil, err
	}
	if k.policy, err = client(policyv1.SchemeGroupVersion, "/apis"); err != nil {
		return nil, err
	}
	if k.apps, err = client(appsv1.SchemeGroupVersion, "/apis"); err != nil {
		return nil, err
	}
	return k, nil
}

// list fetches one page of resource in namespace into out, as the typed
// clients do (opts.TimeoutSeconds bounds the request).
func (k *Client) list(ctx context.Context, c rest.Interface, namespace, resource string, opts metav1.ListOptions, out runtime.Object) error {
	r := c.Get().Namespace(namespace).Resource(resource).VersionedParams(&opts, k.params)
	if opts.TimeoutSeconds != nil {
		r = r.Timeout(time.Duration(*opts.TimeoutSeconds) * time.Second)
	}
	return r.Do(ctx).Into(out)
}

// get fetches one object into out; namespace is empty for a
// cluster-scoped resource (the REST client refuses an empty namespace
// together with a name).
func (k *Client) get(ctx context.Context, c rest.Interface, namespace, resource, name string, out runtime.Object) error {
	opts := metav1.GetOptions{}
	r := c.Get()
	if namespace != "" {
		r = r.Namespace(namespace)
	}
	return r.Resource(resource).Name(name).VersionedParams(&opts, k.params).Do(ctx).Into(out)
}

// ListNodes implements Nodes.
func (k *Client) ListNodes(ctx context.Context, opts metav1.ListOptions) (*corev1.NodeList, error) {
	out := &corev1.NodeList{}
	return out, k.list(ctx, k.core, "", "nodes", opts, out)
}

// GetNode implements Nodes.
func (k *Client) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	out := &corev1.Node{}
	return out, k.get(ctx, k.core, "", "nodes", name, out)
}

// PatchNode implements Nodes.
func (k *Client) PatchNode(ctx context.Context, name string, pt types.PatchType, data []byte) (*corev1.Node, error) {
	out := &corev1.Node{}
	opts := metav1.PatchOptions{}
	err := k.core.Patch(pt).Resource("nodes").Name(name).VersionedParams(&opts, k.params).Body(data).Do(ctx).Into(out)
	return out, err
}

// DeleteNode implements Nodes.
func (k *Client) DeleteNode(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return k.core.Delete().Resource("nodes").Name(name).Body(&opts).Do(ctx).Error()
}

// ListPods implements Pods.
func (k *Client) ListPods(ctx context.Context, namespace string, opts metav1.ListOptions) (*corev1.PodList, error) {
	out := &corev1.PodList{}
	return out, k.list(ctx, k.core, namespace, "pods", opts, out)
}

// GetPod implements Pods.
func (k *Client) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	out := &corev1.Pod{}
	return out, k.get(ctx, k.core, namespace, "pods", name, out)
}

// EvictPod implements Pods: a POST of the policy/v1 Eviction to the pod's
// eviction subresource, as client-go's typed client makes it.
func (k *Client) EvictPod(ctx context.Context, eviction *policyv1.Eviction) error {
	return k.policy.Post().AbsPath("/api/v1").Namespace(eviction.Namespace).Resource("pods").
		Name(eviction.Name).SubResource("eviction").Body(eviction).Do(ctx).Error()
}

// ListPersistentVolumes implements Volumes.
func (k *Client) ListPersistentVolumes(ctx context.Context, opts metav1.ListOptions) (*corev1.PersistentVolumeList, error) {
	out := &corev1.PersistentVolumeList{}
	return out, k.list(ctx, k.core, "", "persistentvolumes", opts, out)
}

// ListPersistentVolumeClaims implements Volumes.
func (k *Client) ListPersistentVolumeClaims(ctx context.Context, namespace string, opts metav1.ListOptions) (*corev1.PersistentVolumeClaimList, error) {
	out := &corev1.PersistentVolumeClaimList{}
	return out, k.list(ctx, k.core, namespace, "persistentvolumeclaims", opts, out)
}

// ListDaemonSets implements Workloads.
func (k *Client) ListDaemonSets(ctx context.Context, namespace string, opts metav1.ListOptions) (*appsv1.DaemonSetList, error) {
	out := &appsv1.DaemonSetList{}
	return out, k.list(ctx, k.apps, namespace, "daemonsets", opts, out)
}

// GetDaemonSet implements Workloads.
func (k *Client) GetDaemonSet(ctx context.Context, namespace, name string) (*appsv1.DaemonSet, error) {
	out := &appsv1.DaemonSet{}
	return out, k.get(ctx, k.apps, namespace, "daemonsets", name, out)
}

// ListPodDisruptionBudgets implements Workloads.
func (k *Client) ListPodDisruptionBudgets(ctx context.Context, namespace string, opts metav1.ListOptions) (*policyv1.PodDisruptionBudgetList, error) {
	out := &policyv1.PodDisruptionBudgetList{}
	return out, k.list(ctx, k.policy, namespace, "poddisruptionbudgets", opts, out)
}
