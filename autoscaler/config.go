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
	// MassNotReadyShare: when more than this share of the fleet is
	// NotReady or never joined (and more than one instance), repair holds
	// and alerts: an outage of the control plane or the network looks
	// like that. Default 1/3.
	MassNotReadyShare float64
	// MaxRecoveryAttempts is how many ticks try to finish an earlier
	// tick's operation before it is dropped with an alert. Default 3.
	MaxRecoveryAttempts int
	// MaxMetricAge is how old a reading may be before it counts as stale.
	// Default 5 minutes.
	MaxMetricAge time.Duration
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

// NoMinimum as Config.MinNodes allows the fleet to shrink to no worker at
// all (0 means the default, 2).
const NoMinimum = -1

// NoCooldown as Config.ScaleDownCooldown means no cooldown at all (0 means
// the default, 10 minutes).
const NoCooldown time.Duration = -1

// DefaultConfig returns the original design's defaults: 2 to 10 workers,
// 10 minutes of scale-down cooldown, a 5-minute lock, ticks every 2 minutes.
// The parts and ClusterID are left for the caller. A zero Config field
// means the same default, so DefaultConfig is only a convenience.
func DefaultConfig() Config {
	var c Config
	_ = c.defaults()
	return c
}

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
	DeadlineMargin:      30 * time.Second,
	ReleaseTimeout:      10 * time.Second,
	Interval:            2 * time.Minute,
	HistoryLimit:        720,
	LongHistory:         8 * 24 * time.Hour,
	LongHistoryStep:     10 * time.Minute,
}

// defaults fills every zero field with its default.
func (c *Config) defaults() error {
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
	if c.MinNodes == NoMinimum {
		c.MinNodes = 0
	}
	setInt(&c.MaxNodes, d.MaxNodes)
	setInt(&c.MaxRepairsPerTick, d.MaxRepairsPerTick)
	setInt(&c.MaxRecoveryAttempts, d.MaxRecoveryAttempts)
	setInt(&c.HistoryLimit, d.HistoryLimit)
	if c.MassNotReadyShare == 0 {
		c.MassNotReadyShare = d.MassNotReadyShare
	}
	setDur(&c.ScaleDownCooldown, d.ScaleDownCooldown)
	if c.ScaleDownCooldown == NoCooldown {
		c.ScaleDownCooldown = 0
	}
	setDur(&c.LockTTL, d.LockTTL)
	setDur(&c.LockRetry, d.LockRetry)
	setDur(&c.JoinTimeout, d.JoinTimeout)
	setDur(&c.NotReadyTimeout, d.NotReadyTimeout)
	setDur(&c.MaxMetricAge, d.MaxMetricAge)
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
		{"ReleaseTimeout", c.ReleaseTimeout}, {"Interval", c.Interval},
		{"LongHistory", c.LongHistory}, {"LongHistoryStep", c.LongHistoryStep},
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
		_ = c.defaults()
		if c.MinNodes > c.MaxNodes {
			bad("MinNodes (%d) must not exceed MaxNodes (%d)", c.MinNodes, c.MaxNodes)
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
