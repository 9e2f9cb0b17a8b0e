package autoscaler

import "github.com/node-fleet/node-fleet/autoscaler/capacity"

// The scheduler's vocabulary, which the Node and the Snapshot carry, is
// package capacity's (what fits where); these names are kept here so that
// a MetricSource or a NodeManager can fill a Node or a Snapshot with the
// autoscaler package alone.
type (
	// Resources is capacity.Resources: CPU, memory, ephemeral storage
	// and pod slots.
	Resources = capacity.Resources
	// PendingPod is capacity.PendingPod: a pod the scheduler could not
	// place.
	PendingPod = capacity.PendingPod
	// WorkerTemplate is capacity.WorkerTemplate: what a new worker offers.
	WorkerTemplate = capacity.WorkerTemplate
	// Taint is capacity.Taint: a Node taint.
	Taint = capacity.Taint
	// MovablePod is capacity.MovablePod: a pod a drain would move, with
	// where it may go.
	MovablePod = capacity.MovablePod
	// ZoneSpread is capacity.ZoneSpread: a pod's topology spread
	// constraint over zones.
	ZoneSpread = capacity.ZoneSpread
	// SchedulerView is capacity.SchedulerView: the cluster as the
	// scheduler sees it (Snapshot.Scheduler).
	SchedulerView = capacity.SchedulerView
)

// Capacity returns the node as the scale-down simulation
// (capacity.ScaleDownByFit) sees it.
func (n Node) Capacity() capacity.Node {
	return capacity.Node{Name: n.Name, Zone: n.Zone, Ready: n.Ready, Unschedulable: n.Unschedulable, Pods: n.Pods,
		ScaleDownBlocker: n.ScaleDownBlocker, Allocatable: n.Allocatable, Requested: n.Requested, Movable: n.Movable, MovablePods: n.MovablePods}
}
