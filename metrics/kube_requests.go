package metrics

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// PodRequests returns what the scheduler reserves for pod on a node, as
// kube-scheduler's NodeResourcesFit filter counts it (the rule of
// k8s.io/component-helpers/resource.PodRequests, written here without
// that module):
//
//   - the app containers' requests are summed; for a container whose
//     status records a larger allocation (an in-place resize) the larger
//     counts;
//   - init containers run one at a time before the app containers: while
//     the i-th runs, the pod needs its request plus those of the sidecars
//     (init containers with restartPolicy Always) started before it;
//     sidecars keep running, so they are also added to the app
//     containers' sum; the pod needs the larger of the two;
//   - pod-level requests (spec.resources), where set, replace the
//     containers' for that resource;
//   - the RuntimeClass overhead (spec.overhead) is added.
//
// Containers without requests count zero, as they do for the filter
// (the scheduler's scoring assumes 100m and 200Mi, placement does not).
// Pods is 1.
func PodRequests(pod *corev1.Pod) autoscaler.Resources {
	var apps, sidecars, initPeak autoscaler.Resources
	status := map[string]corev1.ResourceList{}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.AllocatedResources != nil {
			status[cs.Name] = cs.AllocatedResources
		}
	}
	for _, c := range pod.Spec.Containers {
		r := fromList(c.Resources.Requests)
		if a, ok := status[c.Name]; ok {
			s := fromList(a)
			r.MilliCPU, r.Memory = max(r.MilliCPU, s.MilliCPU), max(r.Memory, s.Memory)
		}
		apps = apps.Add(r)
	}
	for _, c := range pod.Spec.InitContainers {
		r := fromList(c.Resources.Requests)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars = sidecars.Add(r)
			r = sidecars
		} else {
			r = r.Add(sidecars)
		}
		initPeak.MilliCPU, initPeak.Memory = max(initPeak.MilliCPU, r.MilliCPU), max(initPeak.Memory, r.Memory)
	}
	running := apps.Add(sidecars)
	out := autoscaler.Resources{MilliCPU: max(running.MilliCPU, initPeak.MilliCPU), Memory: max(running.Memory, initPeak.Memory)}
	if pod.Spec.Resources != nil {
		if q, ok := pod.Spec.Resources.Requests[corev1.ResourceCPU]; ok {
			out.MilliCPU = q.MilliValue()
		}
		if q, ok := pod.Spec.Resources.Requests[corev1.ResourceMemory]; ok {
			out.Memory = q.Value()
		}
	}
	o := fromList(pod.Spec.Overhead)
	out.MilliCPU += o.MilliCPU
	out.Memory += o.Memory
	out.Pods = 1
	return out
}

// fromList reads CPU and memory from a resource list (Pods stays 0).
func fromList(l corev1.ResourceList) autoscaler.Resources {
	var r autoscaler.Resources
	if q, ok := l[corev1.ResourceCPU]; ok {
		r.MilliCPU = q.MilliValue()
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		r.Memory = q.Value()
	}
	return r
}

// NodeAllocatable returns the node's allocatable as the scheduler counts
// it (status.allocatable: CPU, memory, pods).
func NodeAllocatable(n *corev1.Node) autoscaler.Resources {
	r := fromList(n.Status.Allocatable)
	if q, ok := n.Status.Allocatable[corev1.ResourcePods]; ok {
		r.Pods = q.Value()
	}
	return r
}

// tracked reports whether the scheduler view counts the resource in
// autoscaler.Resources (CPU, memory, pods), or leaves it aside
// (ephemeral storage, whose size a template does not know).
func tracked(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage:
		return true
	}
	return false
}

// otherRequests returns the pod's requests of the resources that
// autoscaler.Resources does not count (GPUs and other extended resources,
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
// autoscaler.Resources does not count.
func otherAllocatable(n *corev1.Node) map[corev1.ResourceName]int64 {
	out := map[corev1.ResourceName]int64{}
	for name, q := range n.Status.Allocatable {
		if !tracked(name) {
			out[name] = q.Value()
		}
	}
	return out
}
