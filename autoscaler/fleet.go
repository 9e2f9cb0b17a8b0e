package autoscaler

import (
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

// Market is the EC2 purchasing option an instance runs under.
type Market string

// The markets an instance can run under.
const (
	MarketSpot     Market = "spot"
	MarketOnDemand Market = "on-demand"
)

// InstanceState is the lifecycle state of an instance, named as EC2 names it.
type InstanceState string

// The instance states the autoscaler distinguishes. Providers map their own
// states onto these.
const (
	StatePending      InstanceState = "pending"
	StateRunning      InstanceState = "running"
	StateShuttingDown InstanceState = "shutting-down"
	StateTerminated   InstanceState = "terminated"
	StateStopping     InstanceState = "stopping"
	StateStopped      InstanceState = "stopped"
)

// Active reports whether an instance in this state is, or is about to be,
// capacity: pending or running.
func (s InstanceState) Active() bool { return s == StatePending || s == StateRunning }

// Instance is one machine of the fleet as the FleetProvider sees it.
type Instance struct {
	// ID is the provider's id, e.g. "i-0abc...".
	ID string
	// Zone is the availability zone, e.g. "eu-west-1a".
	Zone string
	// Market is spot or on-demand.
	Market Market
	// InstanceType is the machine type, e.g. "t3.medium".
	InstanceType string
	// State is the lifecycle state.
	State InstanceState
	// LaunchTime is when the provider started the instance.
	LaunchTime time.Time
	// PrivateIP and PrivateDNS identify the machine on the network; they
	// are used to match instances to Nodes when providerIDs do not help.
	PrivateIP  string
	PrivateDNS string
	// OperationID is the id of the launch operation that created the
	// instance (see LaunchRequest.OperationID); empty if unknown.
	OperationID string
	// InterruptionNotice, when not zero, is when the provider announced
	// that this (spot) instance will be reclaimed.
	InterruptionNotice time.Time
	// Tags are the provider's tags or labels, for information.
	Tags map[string]string
}

// Node is one Kubernetes Node as the NodeManager sees it.
type Node struct {
	// Name is the Node object's name.
	Name string
	// ProviderID is spec.providerID, e.g. "aws:///eu-west-1a/i-0abc" or
	// "k3s://ip-10-0-1-5".
	ProviderID string
	// InstanceID is the instance id the node carries in its
	// LabelInstanceID label, if any.
	InstanceID string
	// InternalIP and Hostname are the node's addresses.
	InternalIP string
	Hostname   string
	// Ready is the node's Ready condition.
	Ready bool
	// ReadyTransition is when the Ready condition last changed.
	ReadyTransition time.Time
	// Unschedulable is true when the node is cordoned.
	Unschedulable bool
	// Created is the Node object's creation time.
	Created time.Time
	// Pods is the number of pods that a drain would have to evict
	// (DaemonSet, mirror and finished pods excluded).
	Pods int
	// MoveCost weighs how disruptive moving those pods is (the
	// NodeManager decides how: drain sums the pods' CPU requests in
	// millicores); among nodes with as many pods, the cheaper goes first.
	MoveCost float64
	// ScaleDownBlocker, when not empty, says why this node must not be
	// removed (an annotation, a pod that cannot be evicted...).
	ScaleDownBlocker string
	// Allocatable is the node's allocatable; Requested the sum of the
	// requests of every pod bound to it that has not finished; Movable the
	// requests of each pod a drain would move elsewhere (the pods counted
	// in Pods). Zero when the NodeManager does not read them.
	Allocatable capacity.Resources
	Requested   capacity.Resources
	Movable     []capacity.Resources
	// MovablePods, when the NodeManager reads them, are the pods counted
	// in Movable (one each, in the same order) with where each may go
	// (its zone, the nodes it may run on, its anti-affinity group and
	// zone spread), for the scale-down simulation (capacity.ScaleDownByFit). nil:
	// only their requests are known.
	MovablePods []capacity.MovablePod
	// Managed is true when the node says it belongs to a node-fleet fleet
	// (it carries LabelInstanceID or LabelCluster). Only managed nodes are
	// ever deleted as orphans.
	Managed bool
	// Cluster is the value of the node's LabelCluster label, empty when
	// it has none. A node is this fleet's only when it equals the
	// cluster's id.
	Cluster string
	// Zone is the node's availability zone (its
	// topology.kubernetes.io/zone label), empty when unknown.
	Zone string
	// LocalData names the node-local data the node holds, one entry each
	// (a PersistentVolume pinned to the node by its node affinity, such
	// as local-path's and local PVs; a pod's hostPath volume), whatever
	// the state of the pods using it (Terminating included). A node with
	// any is never removed, by scale-down or by repair: the data would
	// be lost.
	LocalData []string
	// ScaleDownDisabled is true when the node is annotated
	// AnnotationScaleDownDisabled (or cluster-autoscaler's
	// scale-down-disabled) "true": an operator's "keep this node". Such a
	// node is never removed, by scale-down or by repair; the NodeManager
	// also names the annotation in ScaleDownBlocker.
	ScaleDownDisabled bool
}

// keep says why n must never be removed, by scale-down or by repair (its
// node-local data, an operator's annotation); empty when nothing keeps it.
// A ScaleDownBlocker alone keeps a node from scale-down only: a blocker
// such as a PodDisruptionBudget says nothing about a node that is dead.
func (n Node) keep() string {
	var why []string
	if len(n.LocalData) > 0 {
		why = append(why, "it holds node-local data ("+strings.Join(n.LocalData, ", ")+")")
	}
	if n.ScaleDownDisabled {
		why = append(why, "it is annotated scale-down-disabled")
	}
	return strings.Join(why, " and ")
}

// Labels and annotations node-fleet reads on Nodes.
const (
	// LabelInstanceID is set by the worker's join script to the EC2
	// instance id, so that nodes can be matched to instances where the
	// providerID does not carry it (K3s without the AWS cloud provider).
	LabelInstanceID = "node-fleet.io/instance-id"
	// LabelCluster is set by the join script to the cluster id.
	LabelCluster = "node-fleet.io/cluster"
	// AnnotationScaleDownDisabled on a Node, "true", keeps node-fleet from
	// removing it.
	AnnotationScaleDownDisabled = "node-fleet.io/scale-down-disabled"
	// AnnotationSafeToEvict on a Pod, "false", keeps node-fleet from
	// removing the pod's node.
	AnnotationSafeToEvict = "node-fleet.io/safe-to-evict"
	// LabelInstanceType on a Node names its EC2 instance type, for
	// learning the worker template from Ready workers of the fleet's
	// type. K3s without the AWS cloud provider sets
	// node.kubernetes.io/instance-type to "k3s", so node-fleet's join
	// script should set this label.
	LabelInstanceType = "node-fleet.io/instance-type"
)

// Capacity returns the node as the scale-down simulation
// (capacity.ScaleDownByFit) sees it.
func (n Node) Capacity() capacity.Node {
	return capacity.Node{Name: n.Name, Zone: n.Zone, Ready: n.Ready, Unschedulable: n.Unschedulable, Pods: n.Pods,
		ScaleDownBlocker: n.ScaleDownBlocker, Allocatable: n.Allocatable, Requested: n.Requested, Movable: n.Movable, MovablePods: n.MovablePods}
}
