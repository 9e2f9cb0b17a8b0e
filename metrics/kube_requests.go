package metrics

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/kube"
)

// PodRequests returns what the scheduler reserves for pod on a node:
// kube.PodRequests, the rule's one home.
func PodRequests(pod *corev1.Pod) capacity.Resources { return kube.PodRequests(pod) }

// NodeAllocatable returns the node's allocatable as the scheduler counts
// it: kube.NodeAllocatable.
func NodeAllocatable(n *corev1.Node) capacity.Resources { return kube.NodeAllocatable(n) }

// tracked reports whether the scheduler view counts the resource in
// capacity.Resources (CPU, memory, pods), or leaves it aside
// (ephemeral storage, whose size a template does not know).
func tracked(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage:
		return true
	}
	return false
}

// otherRequests returns the pod's requests of the resources that
// capacity.Resources does not count (GPUs and other extended resources,
// hugepages), by the same rule as PodRequests for init containers (the
// larger of the app containers' sum and the largest init container), or
// nil when it asks for none.
func otherRequests(pod *corev1.Pod) map[corev1.ResourceName]int64 {
	var out map[corev1.ResourceName]int64
	add := func(l corev1.ResourceList, sum bool) {
		for name, q := range l {
			if tracked(name) {
				continue
			}
			if out == nil {
				out = map[corev1.ResourceName]int64{}
			}
			if sum {
				out[name] += q.Value()
			} else {
				out[name] = max(out[name], q.Value())
			}
		}
	}
	for _, c := range pod.Spec.Containers {
		add(c.Resources.Requests, true)
	}
	for _, c := range pod.Spec.InitContainers {
		add(c.Resources.Requests, c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways)
	}
	return out
}

// otherAllocatable returns the node's allocatable of the resources that
// capacity.Resources does not count.
func otherAllocatable(n *corev1.Node) map[corev1.ResourceName]int64 {
	out := map[corev1.ResourceName]int64{}
	for name, q := range n.Status.Allocatable {
		if !tracked(name) {
			out[name] = q.Value()
		}
	}
	return out
}
