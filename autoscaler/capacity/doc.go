// Package capacity is what fits where: the scheduler's view of a cluster
// (the pending pods, what a new worker offers), packing pending pods onto
// new workers (PackPending), the pods too large for any (marked by
// NewSchedulerView and PackPending), and the scale-down simulation that
// removes a node only when its pods fit on the others, by resources,
// zones, volumes and placement rules (ScaleDownByFit). It also holds the resource arithmetic these share
// (Resources, K3sReservation) and how it prints (FormatCPU, FormatMemory).
//
// Everything here is a pure function of the values given: reading them
// from the Kubernetes API is the business of node-fleet's metrics
// (metrics.KubeScheduler builds the SchedulerView) and drain (which fills
// each node's allocatable, requests and movable pods) packages, and the
// autoscaler's planner decides what to do with the answers. The package
// imports nothing else of node-fleet, so a simulator or a test can use it
// alone. The fit and packing rules are checked against the real
// kube-scheduler by a differential test (internal/scheddiff).
package capacity
