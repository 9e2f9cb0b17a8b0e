package kube

import (
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/resource"
)

// PodRequests returns what the scheduler reserves for pod on a node, as
// kube-scheduler's NodeResourcesFit filter counts it: the rule of
// k8s.io/component-helpers/resource.PodRequests (app containers summed;
// init containers one at a time, with the sidecars started before them;
// pod-level requests where set; the RuntimeClass overhead), with the
// resources recorded in the pod's status where an in-place resize made
// them larger, as the scheduler reads them. CPU, memory and ephemeral
// storage are counted; containers without requests count zero, as they do
// for the filter. Pods is 1.
func PodRequests(pod *corev1.Pod) capacity.Resources {
	l := resource.PodRequests(pod, resource.PodResourcesOptions{UseStatusResources: true})
	r := fromList(l)
	r.Pods = 1
	return r
}

// fromList reads CPU, memory and ephemeral storage from a resource list
// (Pods stays 0).
func fromList(l corev1.ResourceList) capacity.Resources {
	var r capacity.Resources
	if q, ok := l[corev1.ResourceCPU]; ok {
		r.MilliCPU = q.MilliValue()
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		r.Memory = q.Value()
	}
	if q, ok := l[corev1.ResourceEphemeralStorage]; ok {
		r.EphemeralStorage = q.Value()
	}
	return r
}

// NodeAllocatable returns the node's allocatable as the scheduler counts
// it (status.allocatable: CPU, memory, ephemeral storage, pods).
func NodeAllocatable(n *corev1.Node) capacity.Resources {
	r := fromList(n.Status.Allocatable)
	if q, ok := n.Status.Allocatable[corev1.ResourcePods]; ok {
		r.Pods = q.Value()
	}
	return r
}
