package autoscaler

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/utils/clock"
)

// Config wires an Autoscaler. Start from DefaultConfig, set the parts, and
// pass it to New, which checks it.
type Config struct {
	// ClusterID names the cluster in state, tags and notifications.
	// Required.
	ClusterID string
	// Owner identifies this replica in the lock; defaults to ClusterID
	// plus a random suffix.
	Owner string

	// The parts. Metrics, Policy, Locker, State, Fleet and Nodes are
	// required; Notifier and Publisher are optional.
	Metrics   MetricSource
	Policy    Policy
	Locker    Locker
	State     StateStore
	Fleet     FleetProvider
	Nodes     NodeManager
	Notifier  Notifier
	Publisher Publisher

	// DryRun, when set, makes every tick lock, observe, plan and record
	// what it would do, and do none of it: no FleetProvider.Launch or
	// Terminate, no NodeManager Cordon, Uncordon, Drain or DeleteNode, no
	// operation written to the state. The Result (Result.DryRun,
	// Result.Would, "would scale up 3: ..."), the history's Record
	// (Record.DryRun, Record.Would) and the notifications (Event.DryRun)
	// say so. An operation a live tick left in flight is left alone (not
	// finished, rolled back, counted or dropped) and reported among the
	// would-be steps; LastScaleUp and LastScaleDown are not moved, and the
	// record's Action stays Hold, so that switching DryRun off finds the
	// cooldowns and the history as live ticks left them. Each dry-run tick
	// says what a live tick would do with the fleet as it is: it does not
	// pretend that its earlier would-be actions happened.
	DryRun bool

	// Clock reads the time; defaults to the real clock.
	Clock clock.WithTicker
	// Logger receives the tick's log; defaults to discarding.
	Logger *slog.Logger

	// MinNodes and MaxNodes bound the number of active worker instances
	// (Ready or booting). Defaults 2 and 10. MinNodes 0 means its
	// default; to allow an empty fleet set MinNodes to NoMinimum.
	MinNodes, MaxNodes int
	// ScaleUpCooldown is the least time between two scale-ups. Default 0:
	// booting instances already count as capacity.
	ScaleUpCooldown time.Duration
	// ScaleDownCooldown is the least time after any scaling action before
	// a scale-down. Default 10 minutes; NoCooldown for none.
	ScaleDownCooldown time.Duration
	// LockTTL is the lease's lifetime. Default 5 minutes. A tick never
	// runs past it: its context ends ReleaseTimeout before.
	LockTTL time.Duration
	// LockRetry is how often HandleInterruption retries the lock while
	// another replica holds it. Default 2 seconds.
	LockRetry time.Duration
	// JoinTimeout is how long an instance may run without becoming a
	// Ready node before it is a ghost and terminated. Default 10 minutes.
	JoinTimeout time.Duration
	// NotReadyTimeout is how long a node that was Ready may stay NotReady
	// before its instance is replaced. Default 5 minutes.
	NotReadyTimeout time.Duration
	// MaxRepairsPerTick bounds the instances one tick terminates as
	// ghosts or NotReady. Default 2.
	MaxRepairsPerTick int
	// MassNotReadyShare: when at least this share of the fleet is
	// NotReady or never joined (and more than one instance), repair holds
	// and alerts: an outage of the control plane or the network looks
	// like that (one zone of three is exactly a third). A zone whose
	// workers (two or more) are all NotReady or never joined is an outage
	// too, whatever the share: repair holds in that zone, also while its
	// workers come back (up to NotReadyTimeout after the first is Ready
	// again). A worker kept for its node-local data (never repaired) and
	// broken for over an hour (or NotReadyTimeout, when longer) counts
	// neither in the share nor in its zone: it is no outage going on, and
	// is alerted on its own. Default 1/3.
	MassNotReadyShare float64
	// MaxRecoveryAttempts is how many ticks try to finish an earlier
	// tick's operation before it is dropped with an alert. Default 3.
	MaxRecoveryAttempts int
	// MaxMetricAge is how old a reading may be before it counts as stale.
	// Default 5 minutes.
	MaxMetricAge time.Duration
	// NewNodeGrace is how long a node may have been Ready and still be
	// missing from the CPU average (Snapshot.CPUNodes) without putting
	// the tick in safety mode: rate() needs two samples of a new node's
	// node_exporter. Default 30 seconds, two scrape intervals of the
	// deploy's Prometheus (15 s); set it to twice yours.
	NewNodeGrace time.Duration
	// RealertInterval is how long a repeated alert is held back: when a
	// tick raises the same kind of event about the same subjects (the
	// same messages, errors and instances, an AWS request id or a local
	// port aside) as the last tick that sent that
	// kind, it is sent again only once this much time has passed since
	// (ClusterState.Alerted). A condition that clears and comes back is
	// alerted at once. Default 1 hour: an on-call person is told again
	// about a condition nobody has fixed about as often as a paging
	// system's usual repeat (Alertmanager's repeat_interval defaults to
	// 4 hours; an hour keeps an unfixed fault in sight during a working
	// day), not once a tick (30 messages an hour at the Lambda's
	// 2-minute schedule, 60 at the daemon's minute).
	RealertInterval time.Duration
	// DeadlineMargin: when ctx's deadline is closer than this, the tick
	// starts no new action (a Lambda near its timeout). Default 30 seconds.
	DeadlineMargin time.Duration
	// ReleaseTimeout bounds the lock release and the final state write,
	// which run even when ctx is cancelled. Default 10 seconds.
	ReleaseTimeout time.Duration
	// Interval is the time between ticks in Run. Default 2 minutes.
	Interval time.Duration
	// HistoryLimit is the number of Records kept. Default 720 (a day of
	// 2-minute ticks).
	HistoryLimit int
	// LongHistory is how far back ClusterState.LongHistory reaches, in
	// means over LongHistoryStep. Defaults 8 days and 10 minutes (1,152
	// records: a week and a day, for daily and weekly seasonality).
	LongHistory, LongHistoryStep time.Duration
}

// Stand-ins for zero where a zero Config field means its default.
const (
	// NoMinimum as Config.MinNodes allows the fleet to shrink to no
	// worker at all (0 means the default, 2).
	NoMinimum = -1
	// NoCooldown as Config.ScaleDownCooldown means no cooldown at all (0
	// means the default, 10 minutes).
	NoCooldown time.Duration = -1
)

// DefaultConfig returns the original design's defaults: 2 to 10 workers,
// 10 minutes of scale-down cooldown, a 5-minute lock, ticks every 2 minutes.
// The parts and ClusterID are left for the caller. A zero Config field
// means the same default, so DefaultConfig is only a convenience.
func DefaultConfig() Config { return Config{}.withDefaults() }

// defaultConfig holds the values a zero Config field stands for.
var defaultConfig = Config{
	MinNodes:            2,
	MaxNodes:            10,
	ScaleDownCooldown:   10 * time.Minute,
	LockTTL:             5 * time.Minute,
	LockRetry:           2 * time.Second,
	JoinTimeout:         10 * time.Minute,
	NotReadyTimeout:     5 * time.Minute,
	MaxRepairsPerTick:   2,
	MassNotReadyShare:   1.0 / 3,
	MaxRecoveryAttempts: 3,
	MaxMetricAge:        5 * time.Minute,
	NewNodeGrace:        30 * time.Second,
	RealertInterval:     time.Hour,
	DeadlineMargin:      30 * time.Second,
	ReleaseTimeout:      10 * time.Second,
	Interval:            2 * time.Minute,
	HistoryLimit:        720,
	LongHistory:         8 * 24 * time.Hour,
	LongHistoryStep:     10 * time.Minute,
}

// withDefaults returns c with every zero field set to its default: the
// one place where zero means "default". The stand-ins (NoMinimum,
// NoCooldown) stay, so that applying it twice changes nothing; Limits
// turns them into the zero they stand for.
func (c Config) withDefaults() Config {
	d := &defaultConfig
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&c.MinNodes, d.MinNodes)
	setInt(&c.MaxNodes, d.MaxNodes)
	setInt(&c.MaxRepairsPerTick, d.MaxRepairsPerTick)
	setInt(&c.MaxRecoveryAttempts, d.MaxRecoveryAttempts)
	setInt(&c.HistoryLimit, d.HistoryLimit)
	if c.MassNotReadyShare == 0 {
		c.MassNotReadyShare = d.MassNotReadyShare
	}
	setDur(&c.ScaleDownCooldown, d.ScaleDownCooldown)
	setDur(&c.LockTTL, d.LockTTL)
	setDur(&c.LockRetry, d.LockRetry)
	setDur(&c.JoinTimeout, d.JoinTimeout)
	setDur(&c.NotReadyTimeout, d.NotReadyTimeout)
	setDur(&c.MaxMetricAge, d.MaxMetricAge)
	setDur(&c.NewNodeGrace, d.NewNodeGrace)
	setDur(&c.RealertInterval, d.RealertInterval)
	setDur(&c.DeadlineMargin, d.DeadlineMargin)
	setDur(&c.ReleaseTimeout, d.ReleaseTimeout)
	setDur(&c.Interval, d.Interval)
	setDur(&c.LongHistory, d.LongHistory)
	setDur(&c.LongHistoryStep, d.LongHistoryStep)
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Limits returns the numbers the planner reads from c, with c's defaults
// applied (a zero field is its default, NoMinimum and NoCooldown are 0),
// and an error naming every limit out of range.
func (c Config) Limits() (Limits, error) {
	d := c.withDefaults()
	l := Limits{
		ClusterID: d.ClusterID,
		MinNodes:  d.MinNodes, MaxNodes: d.MaxNodes,
		ScaleUpCooldown: d.ScaleUpCooldown, ScaleDownCooldown: d.ScaleDownCooldown,
		JoinTimeout: d.JoinTimeout, NotReadyTimeout: d.NotReadyTimeout,
		MaxRepairsPerTick: d.MaxRepairsPerTick, MassNotReadyShare: d.MassNotReadyShare,
		MaxRecoveryAttempts: d.MaxRecoveryAttempts, MaxMetricAge: d.MaxMetricAge,
		NewNodeGrace: d.NewNodeGrace,
	}
	if l.MinNodes == NoMinimum {
		l.MinNodes = 0
	}
	if l.ScaleDownCooldown == NoCooldown {
		l.ScaleDownCooldown = 0
	}
	return l, l.Validate()
}

// Limits are the numbers the planner (PlanTick) reads, and nothing else.
// Unlike Config, a zero here means zero: MinNodes 0 lets the fleet shrink
// to no worker, a zero cooldown is none, MaxRepairsPerTick 0 repairs
// nothing. Config.Limits derives them from a Config, defaults applied.
type Limits struct {
	// ClusterID is the cluster whose fleet this is: only a NotReady Node
	// labelled with it (Node.OfCluster) and matched to no instance is
	// deleted as an orphan; empty deletes no orphan at all (a node of
	// another cluster, seen when the node selector is wider than one
	// pool, is never this fleet's to delete).
	ClusterID string
	// MinNodes and MaxNodes bound the active worker instances (Ready or
	// booting; interrupted ones excluded).
	MinNodes, MaxNodes int
	// ScaleUpCooldown is the least time between two scale-ups of the
	// policy's; ScaleDownCooldown the least time after any scaling action
	// before a scale-down of the policy's.
	ScaleUpCooldown, ScaleDownCooldown time.Duration
	// JoinTimeout: an instance not a node by then is a ghost.
	// NotReadyTimeout: a node NotReady that long has its instance repaired.
	// Both must be positive: at zero every instance still booting would
	// be a ghost, and every node's first missed heartbeat a repair.
	JoinTimeout, NotReadyTimeout time.Duration
	// MaxRepairsPerTick bounds the instances one tick terminates in repair.
	MaxRepairsPerTick int
	// MassNotReadyShare: when at least this share of the fleet (and
	// more than one instance) is NotReady or never joined, repair holds:
	// an outage, not broken machines.
	MassNotReadyShare float64
	// MaxRecoveryAttempts: an earlier tick's operation not finished in
	// that many ticks is dropped with an alert.
	MaxRecoveryAttempts int
	// MaxMetricAge: a reading older than this is stale (safety mode);
	// 0 checks no age.
	MaxMetricAge time.Duration
	// NewNodeGrace: a node Ready for less than this is not expected in
	// the CPU average (Snapshot.CPUNodes) yet.
	NewNodeGrace time.Duration
}

// Validate returns an error naming every limit out of range: a negative
// count or duration, a zero JoinTimeout or NotReadyTimeout, MinNodes above
// MaxNodes, a share outside (0, 1].
func (l Limits) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, n := range []struct {
		name string
		v    int
	}{{"MinNodes", l.MinNodes}, {"MaxNodes", l.MaxNodes}, {"MaxRepairsPerTick", l.MaxRepairsPerTick}, {"MaxRecoveryAttempts", l.MaxRecoveryAttempts}} {
		if n.v < 0 {
			bad("%s must not be negative, got %d", n.name, n.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ScaleUpCooldown", l.ScaleUpCooldown}, {"ScaleDownCooldown", l.ScaleDownCooldown}, {"JoinTimeout", l.JoinTimeout},
		{"NotReadyTimeout", l.NotReadyTimeout}, {"MaxMetricAge", l.MaxMetricAge}, {"NewNodeGrace", l.NewNodeGrace},
	} {
		if d.v < 0 {
			bad("%s must not be negative, got %s", d.name, d.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"JoinTimeout", l.JoinTimeout}, {"NotReadyTimeout", l.NotReadyTimeout}} {
		if d.v == 0 {
			bad("%s must be positive: at zero repair terminates what is still booting or only briefly NotReady", d.name)
		}
	}
	if l.MinNodes > l.MaxNodes {
		bad("MinNodes (%d) must not exceed MaxNodes (%d)", l.MinNodes, l.MaxNodes)
	}
	if !(l.MassNotReadyShare > 0 && l.MassNotReadyShare <= 1) {
		bad("MassNotReadyShare must be in (0, 1], got %g", l.MassNotReadyShare)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	return nil
}

// validate fills in the defaults and checks c. Every error names the field.
func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.ClusterID == "" {
		bad("ClusterID is required")
	}
	for _, p := range []struct {
		name string
		nil  bool
	}{
		{"Metrics", c.Metrics == nil}, {"Policy", c.Policy == nil}, {"Locker", c.Locker == nil},
		{"State", c.State == nil}, {"Fleet", c.Fleet == nil}, {"Nodes", c.Nodes == nil},
	} {
		if p.nil {
			bad("%s is required", p.name)
		}
	}
	if c.MinNodes < NoMinimum {
		bad("MinNodes must be 0 (the default, 2), NoMinimum (-1) or more, got %d", c.MinNodes)
	}
	if c.MaxNodes < 0 {
		bad("MaxNodes must be positive (0 means the default, 10), got %d", c.MaxNodes)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ScaleUpCooldown", c.ScaleUpCooldown}, {"ScaleDownCooldown", c.ScaleDownCooldown},
		{"DeadlineMargin", c.DeadlineMargin}, {"MaxMetricAge", c.MaxMetricAge}, {"LockTTL", c.LockTTL},
		{"LockRetry", c.LockRetry}, {"JoinTimeout", c.JoinTimeout}, {"NotReadyTimeout", c.NotReadyTimeout},
		{"ReleaseTimeout", c.ReleaseTimeout}, {"Interval", c.Interval}, {"NewNodeGrace", c.NewNodeGrace},
		{"RealertInterval", c.RealertInterval}, {"LongHistory", c.LongHistory}, {"LongHistoryStep", c.LongHistoryStep},
	} {
		if d.v < 0 && !(d.name == "ScaleDownCooldown" && d.v == NoCooldown) {
			bad("%s must not be negative (0 means its default), got %s", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"HistoryLimit", c.HistoryLimit}, {"MaxRepairsPerTick", c.MaxRepairsPerTick}, {"MaxRecoveryAttempts", c.MaxRecoveryAttempts}} {
		if n.v < 0 {
			bad("%s must not be negative (0 means its default), got %d", n.name, n.v)
		}
	}
	if c.MassNotReadyShare < 0 || c.MassNotReadyShare > 1 {
		bad("MassNotReadyShare must be between 0 (its default, 1/3) and 1, got %g", c.MassNotReadyShare)
	}
	if len(errs) == 0 {
		*c = c.withDefaults()
		if _, err := c.Limits(); err != nil {
			errs = append(errs, err)
		}
		if c.LockTTL <= c.ReleaseTimeout+c.DeadlineMargin {
			bad("LockTTL (%s) must exceed ReleaseTimeout (%s) plus DeadlineMargin (%s): a tick runs within its lease", c.LockTTL, c.ReleaseTimeout, c.DeadlineMargin)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("autoscaler config: %w", err)
	}
	return nil
}
