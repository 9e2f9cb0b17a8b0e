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
