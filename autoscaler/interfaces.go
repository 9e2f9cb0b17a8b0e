package autoscaler

import (
	"context"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

// MetricSource observes the cluster's load.
//
// Collect returns a Snapshot in which every metric it could not read is
// marked missing (Metric.OK false, Err wrapping ErrNoData), never zero. It
// returns a non-nil error only when it could collect nothing at all; the
// autoscaler then treats every metric as missing. Collect must honour ctx
// and may be called again after any error.
//
// What a snapshot must carry, by the decision it allows:
//
//   - Scale-down needs all three core readings, CPU, Memory and
//     PendingPods, each present, fresh (within Config.MaxMetricAge of the
//     tick) and in range (Snapshot.Problems lists what is wrong), and, when
//     the source sets CPUNodes, a CPU average over every Ready node.
//     Without them the tick is in safety mode: no scale-down, whatever the
//     policy says. A source that only sets Custom metrics therefore never
//     scales down: combine it with one that reads the core metrics
//     (metrics.Merge). A snapshot naming a failed source (Snapshot.Failed)
//     never scales down either.
//   - Scale-up needs only the evidence the policy acts on: pending pods
//     (PendingPods, or the pods of the scheduler's view, Snapshot.Scheduler),
//     or a high CPU or Memory reading, or a Custom metric a custom policy
//     reads; it is allowed in safety mode. The floor (MinNodes) and the
//     ceiling (MaxNodes) need no metric at all.
//   - Scheduler, when set, tells which pending pods a new node helps
//     (the others are never launched for, and alerted once) and what a
//     new worker must fit; without it every pending pod counts.
//   - APILatency is informational.
type MetricSource interface {
	Collect(ctx context.Context) (Snapshot, error)
}

// Policy turns an observation into a Decision. A Policy is a pure function
// of its input: no I/O, no clock (the time is in the input), no state of
// its own (history is in the input). The autoscaler clamps whatever it
// returns to MinNodes/MaxNodes and applies cooldowns and safety mode after
// it, so a Policy need not (and cannot) break them.
type Policy interface {
	Decide(in PolicyInput) Decision
}

// PolicyFunc adapts a function to the Policy interface.
type PolicyFunc func(in PolicyInput) Decision

// Decide calls f(in).
func (f PolicyFunc) Decide(in PolicyInput) Decision { return f(in) }

// PolicyInput is everything a Policy may look at.
type PolicyInput struct {
	// Now is the tick's time.
	Now time.Time
	// Snapshot is the current observation; missing metrics are marked.
	Snapshot Snapshot
	// ReadyNodes is the number of fleet instances that are Ready nodes.
	ReadyNodes int
	// Booting is the number of active instances not yet Ready nodes
	// (launched, joining), excluding ghosts being removed.
	Booting int
	// MinNodes and MaxNodes are the guardrails, for information.
	MinNodes, MaxNodes int
	// History is the decision history, oldest first, without this tick.
	History []Record
	// LongHistory is the history downsampled to means over 10 minutes
	// (Config.LongHistoryStep), over 8 days (Config.LongHistory).
	LongHistory []Record
	// LastScaleUp and LastScaleDown are when the last actions happened.
	LastScaleUp, LastScaleDown time.Time
	// SafetyMode is true when some metric is missing, stale or nonsense;
	// the autoscaler will refuse a scale-down whatever the policy says.
	SafetyMode bool
	// Calendar is the known events stored with the cluster's state (an
	// operator adds them without redeploying), that have not ended.
	Calendar []KnownEvent
}

// Locker is the cluster-wide mutual exclusion between autoscaler replicas
// (Lambda invocations that overlap, daemons).
type Locker interface {
	// Acquire takes the lock for owner for ttl. It returns ErrLockHeld
	// (wrapped) when another owner holds an unexpired lease. A lease whose
	// expiry has passed is taken over: the returned Lease has TookOver set.
	// Acquiring again as the current owner renews the lease with a new
	// token. Every successful Acquire returns a larger Token than any before.
	Acquire(ctx context.Context, owner string, ttl time.Duration) (Lease, error)
	// Release gives the lease up. Releasing a lease that is no longer held
	// (expired and taken over, or already released) changes nothing and
	// returns nil: there is nothing left to release.
	Release(ctx context.Context, lease Lease) error
}

// StateStore keeps the ClusterState between ticks.
type StateStore interface {
	// Load returns the stored state; a cluster never saved before yields a
	// zero ClusterState and no error.
	Load(ctx context.Context) (ClusterState, error)
	// Save writes st under lease. The write is fenced: when a lease with a
	// larger token has been granted since (the caller lost its lease), it
	// is refused with ErrLeaseLost and nothing is written. Save may be
	// retried with the same arguments.
	Save(ctx context.Context, lease Lease, st ClusterState) error
}

// LaunchRequest asks a FleetProvider for instances.
type LaunchRequest struct {
	// OperationID makes the launch idempotent: instances already launched
	// under this id are found again and count toward Count, so a retried
	// request never launches twice.
	OperationID string
	// Count is the total number of instances this operation wants.
	Count int
	// Fit, when not zero, is what one new worker must offer the
	// scheduler: the largest placeable pending pod's requests plus the
	// DaemonSet pods' (from the scheduler's view). A provider that can
	// choose among instance types launches only types that offer it.
	Fit capacity.Resources
	// Zones, when not empty, are the only availability zones the launch
	// may use (a pending pod it is for can run only there).
	Zones []string
	// ZoneCounts are the fleet's workers per availability zone as the
	// planner counted them (Ready and booting; in a zone in its outage
	// also the NotReady ones and ghosts but one, expected back); the
	// provider spreads the launch over the zones so that the counts stay
	// level (water-filling: each new instance goes to the zone with the
	// fewest).
	ZoneCounts map[string]int
}

// FleetProvider owns the machines. It sees and touches only the instances
// that carry this cluster's tag.
type FleetProvider interface {
	// List returns the cluster's instances that are not terminated.
	List(ctx context.Context) ([]Instance, error)
	// Launch starts instances until req.OperationID has req.Count of them
	// and returns all of the operation's instances. When capacity runs
	// out it returns what it did launch together with an error wrapping
	// ErrInsufficientCapacity. Calling it again with the same request
	// launches only what is still missing.
	Launch(ctx context.Context, req LaunchRequest) ([]Instance, error)
	// Terminate terminates the given instances. Instances already gone
	// are not an error. Instances that do not carry this cluster's tag
	// are never terminated: Terminate returns an error wrapping
	// ErrNotManaged naming them (the others are still terminated).
	Terminate(ctx context.Context, ids []string) error
}

// NodeManager manages the cluster's Node objects.
type NodeManager interface {
	// ListNodes returns the cluster's Nodes, with their pods counted and
	// any reason they must not be removed.
	ListNodes(ctx context.Context) ([]Node, error)
	// Cordon marks the node unschedulable; Uncordon undoes it. Both are
	// no-ops when already done, and return ErrNotFound when the node is
	// gone.
	Cordon(ctx context.Context, name string) error
	Uncordon(ctx context.Context, name string) error
	// Drain evicts the node's pods (respecting PodDisruptionBudgets,
	// never forcing) and waits until they are gone. It returns an error
	// wrapping ErrDrainBlocked when it cannot finish before its timeout or
	// ctx's deadline; the node stays cordoned and the caller decides. A
	// node with nothing left to evict returns nil; a node that is gone
	// returns ErrNotFound.
	Drain(ctx context.Context, name string) error
	// DeleteNode deletes the Node object; a node already gone is not an
	// error.
	DeleteNode(ctx context.Context, name string) error
	// PinnedData returns the node-local data pinned to a node by name,
	// keyed by that name: every PersistentVolume that holds someone's
	// data (bound to a claim, or released and not yet deleted) whose
	// required node affinity names nodes by their kubernetes.io/hostname
	// label or metadata.name (local-path's, local PVs), one entry each
	// under every name it names, whether or not a Node of that name
	// exists. A Node deleted (kubectl delete node, an orphan deletion)
	// while its machine still runs leaves that data on the machine's
	// disk; the autoscaler matches the names to its instances' host
	// names and never terminates one that holds data. A cluster with no
	// such volume returns an empty map and no error; an error means it
	// could not be told, and the autoscaler then terminates no instance
	// as a ghost or NotReady and scales no node down.
	PinnedData(ctx context.Context) (map[string][]string, error)
}

// Warner is implemented by parts that have advice about their own
// configuration (ec2fleet: fewer instance types than AWS advises for
// spot). The autoscaler copies the warnings of its parts that implement
// it into every Result.
type Warner interface {
	Warnings() []string
}

// Notifier tells people what happened. Notify failures are logged by the
// autoscaler and never fail a tick.
type Notifier interface {
	Notify(ctx context.Context, ev Event) error
}

// Publisher publishes the autoscaler's own metrics after every tick
// (CloudWatch, Prometheus). Failures are logged and never fail a tick.
type Publisher interface {
	Publish(ctx context.Context, r Result) error
}
