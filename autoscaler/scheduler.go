package autoscaler

// Resources is an amount of what the scheduler counts on a node: CPU in
// millicores, memory in bytes and pod slots.
type Resources struct {
	MilliCPU int64
	Memory   int64
	Pods     int64
}

// PendingPod is a pod the scheduler could not place, as read from the
// Kubernetes API.
type PendingPod struct {
	Namespace, Name string
	// Requests is what the scheduler reserves for the pod: the larger of
	// the sum of its containers' requests and its largest init
	// container's, plus its overhead; Pods is 1.
	Requests Resources
	// Unplaceable, when not empty, says why no new worker could take the
	// pod: a nodeSelector or required node affinity the worker's labels
	// do not satisfy, a taint of the worker the pod does not tolerate, a
	// request larger than an empty worker offers. Such pods are left out
	// of the scale-up count.
	Unplaceable string
}

// WorkerTemplate is what a new worker would offer the scheduler.
type WorkerTemplate struct {
	// InstanceType is the worker's instance type.
	InstanceType string
	// Allocatable is an empty new worker's allocatable.
	Allocatable Resources
	// DaemonSet is the sum of the requests of the DaemonSet pods that
	// would land on every new worker.
	DaemonSet Resources
	// Labels and Taints are the ones a new worker registers with.
	Labels map[string]string
	Taints []Taint
	// Source says where Allocatable comes from ("node ip-10-0-1-5", or
	// "t3.medium: 2 vCPU, 4 GiB, minus K3s reservations").
	Source string
}

// Taint is a Node taint, as the scheduler matches it against tolerations.
type Taint struct {
	Key, Value string
	// Effect is NoSchedule, PreferNoSchedule or NoExecute.
	Effect string
}

// SchedulerView is the cluster as the scheduler sees it, read from the
// Kubernetes API in one pass per tick. A MetricSource that provides it sets
// Snapshot.Scheduler; when the read fails, Scheduler is nil and the
// PendingPods metric is missing (safety mode), never zero.
type SchedulerView struct {
	// Template is what a new worker offers.
	Template WorkerTemplate
	// Pending are the pods the scheduler could not place, placeable or
	// not.
	Pending []PendingPod
	// NodesNeeded is how many new workers the placeable pending pods
	// need, packed first-fit decreasing onto Template.
	NodesNeeded int
	// Demand is the requests of the pods on the managed workers plus the
	// placeable pending pods, in worker units (CPU and memory, the
	// larger of the two).
	Demand float64
}
