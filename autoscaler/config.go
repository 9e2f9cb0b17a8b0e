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
	// (Ready or booting). Defaults 2 and 10. MinNodes may be 0.
	MinNodes, MaxNodes int
	// ScaleUpCooldown is the least time between two scale-ups. Default 0:
	// booting instances already count as capacity.
	ScaleUpCooldown time.Duration
	// ScaleDownCooldown is the least time after any scaling action before
	// a scale-down. Default 10 minutes.
	ScaleDownCooldown time.Duration
	// LockTTL is the lease's lifetime. Default 5 minutes. It must exceed
	// the longest tick (a drain included).
	LockTTL time.Duration
	// JoinTimeout is how long an instance may run without becoming a
	// Ready node before it is a ghost and terminated. Default 10 minutes.
	JoinTimeout time.Duration
	// NotReadyTimeout is how long a node that was Ready may stay NotReady
	// before its instance is replaced. Default 5 minutes.
	NotReadyTimeout time.Duration
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
}

// DefaultConfig returns the original design's defaults: 2 to 10 workers,
// 10 minutes of scale-down cooldown, a 5-minute lock, ticks every 2 minutes.
// The parts and ClusterID are left for the caller.
func DefaultConfig() Config {
	return Config{
		MinNodes:          2,
		MaxNodes:          10,
		ScaleDownCooldown: 10 * time.Minute,
		LockTTL:           5 * time.Minute,
		JoinTimeout:       10 * time.Minute,
		NotReadyTimeout:   5 * time.Minute,
		MaxMetricAge:      5 * time.Minute,
		DeadlineMargin:    30 * time.Second,
		ReleaseTimeout:    10 * time.Second,
		Interval:          2 * time.Minute,
		HistoryLimit:      720,
	}
}

// validate checks c and fills in what has a default. Every error names the
// field.
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
	if c.MinNodes < 0 {
		bad("MinNodes must be 0 or more, got %d", c.MinNodes)
	}
	if c.MaxNodes < 1 {
		bad("MaxNodes must be at least 1, got %d", c.MaxNodes)
	}
	if c.MaxNodes >= 1 && c.MinNodes > c.MaxNodes {
		bad("MinNodes (%d) must not exceed MaxNodes (%d)", c.MinNodes, c.MaxNodes)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		zero bool // zero allowed
	}{
		{"ScaleUpCooldown", c.ScaleUpCooldown, true},
		{"ScaleDownCooldown", c.ScaleDownCooldown, true},
		{"DeadlineMargin", c.DeadlineMargin, true},
		{"MaxMetricAge", c.MaxMetricAge, true},
		{"LockTTL", c.LockTTL, false},
		{"JoinTimeout", c.JoinTimeout, false},
		{"NotReadyTimeout", c.NotReadyTimeout, false},
		{"ReleaseTimeout", c.ReleaseTimeout, false},
		{"Interval", c.Interval, false},
	} {
		if d.v < 0 || (!d.zero && d.v == 0) {
			want := "positive"
			if d.zero {
				want = "0 or positive"
			}
			bad("%s must be %s, got %s (DefaultConfig has the defaults)", d.name, want, d.v)
		}
	}
	if c.HistoryLimit < 0 {
		bad("HistoryLimit must be 0 or more, got %d", c.HistoryLimit)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("autoscaler config: %w", err)
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
