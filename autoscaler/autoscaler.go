package autoscaler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Autoscaler runs ticks: lock, load, observe, plan (recover, repair,
// decide, guardrails), act, record, unlock. It is safe to call RunOnce
// from several goroutines or processes at once: the Locker lets one of
// them act.
type Autoscaler struct {
	cfg     Config
	limits  Limits
	owner   string
	trigger chan struct{}
}

// New checks cfg and returns an Autoscaler. Every problem with cfg is
// reported, each naming its field; zero fields take their defaults, here
// and nowhere else.
func New(cfg Config) (*Autoscaler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	limits, err := cfg.Limits()
	if err != nil {
		return nil, fmt.Errorf("autoscaler config: %w", err)
	}
	owner := cfg.Owner
	if owner == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("autoscaler: owner id: %w", err)
		}
		owner = cfg.ClusterID + "-" + hex.EncodeToString(b[:])
	}
	return &Autoscaler{cfg: cfg, limits: limits, owner: owner, trigger: make(chan struct{}, 1)}, nil
}

// Owner returns the identity this autoscaler uses in the lock.
func (a *Autoscaler) Owner() string { return a.owner }

// Config returns the configuration in use, defaults filled in.
func (a *Autoscaler) Config() Config { return a.cfg }

// Limits returns the limits the planner is given.
func (a *Autoscaler) Limits() Limits { return a.limits }

// Trigger asks Run for a tick now, without waiting for the interval (a
// daemon calls it when pods become unschedulable). It never blocks; a
// trigger while one is already waiting is merged with it.
func (a *Autoscaler) Trigger() {
	select {
	case a.trigger <- struct{}{}:
	default:
	}
}

// Run ticks at once and then every Interval on the configured clock, and
// whenever Trigger is called, until ctx is done; it then returns ctx's
// error. Tick errors are logged, not returned.
func (a *Autoscaler) Run(ctx context.Context) error {
	t := a.cfg.Clock.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		res, err := a.RunOnce(ctx)
		if err != nil {
			a.cfg.Logger.ErrorContext(ctx, "tick failed", "err", err, "result", res.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		case <-a.trigger:
		}
	}
}

// RunOnce runs one tick and says what it did. A tick skipped because
// another replica holds the lock is not an error. The lock is released on
// every path, also when ctx is cancelled.
func (a *Autoscaler) RunOnce(ctx context.Context) (Result, error) {
	return a.tick(ctx, nil, false)
}

// HandleInterruption runs a tick that knows of a spot interruption
// warning for instanceID, issued at notice: the warning is recorded in the
// state (a warning delivered twice is recorded once), the instance stops
// counting as capacity, its replacement is launched and its node cordoned
// and drained, all under the same lock and journal as every tick. While
// another replica holds the lock it waits, every Config.LockRetry, until
// ctx's deadline is DeadlineMargin away, and then returns an error
// wrapping ErrLockHeld (EventBridge delivers the event again). A warning
// for an instance that is not the fleet's changes nothing.
func (a *Autoscaler) HandleInterruption(ctx context.Context, instanceID string, notice time.Time) (Result, error) {
	if instanceID == "" {
		return Result{Outcome: OutcomeFailed, Reason: "interruption without an instance id"}, errors.New("autoscaler: interruption without an instance id")
	}
	return a.tick(ctx, []Interruption{{InstanceID: instanceID, Notice: notice}}, true)
}

// acquire takes the lock; with wait, it retries while another replica
// holds it, until ctx's deadline is near.
func (a *Autoscaler) acquire(ctx context.Context, wait bool) (Lease, error) {
	for {
		lease, err := a.cfg.Locker.Acquire(ctx, a.owner, a.cfg.LockTTL)
		if err == nil || !wait || !errors.Is(err, ErrLockHeld) {
			return lease, err
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < a.cfg.DeadlineMargin+a.cfg.LockRetry {
			return lease, fmt.Errorf("lock still held near the deadline: %w", err)
		}
		select {
		case <-ctx.Done():
			return lease, fmt.Errorf("waiting for the lock: %w", errors.Join(ctx.Err(), err))
		case <-a.cfg.Clock.After(a.cfg.LockRetry):
		}
	}
}

func (a *Autoscaler) tick(ctx context.Context, delivered []Interruption, wait bool) (res Result, err error) {
	start := a.cfg.Clock.Now()
	res.Time, res.DryRun = start, a.cfg.DryRun
	defer func() { res.Duration = a.cfg.Clock.Since(start) }()
	if err := ctx.Err(); err != nil {
		res.Outcome, res.Reason = OutcomeFailed, "context done before the tick started"
		return res, err
	}

	// Lock.
	lease, err := a.acquire(ctx, wait)
	if errors.Is(err, ErrLockHeld) && !wait {
		res.Outcome, res.Reason = OutcomeSkipped, "lock held by another replica"
		// Published too: a standby that always loses the lock still
		// shows that it ticks.
		res.Duration = a.cfg.Clock.Since(start)
		a.publish(ctx, res)
		return res, nil
	}
	if err != nil {
		res.Outcome, res.Reason = OutcomeFailed, "could not acquire the lock"
		return res, fmt.Errorf("acquire lock: %w", err)
	}
	res.Lease = lease
	t := &tick{a: a, cfg: &a.cfg, lease: lease, now: start,
		log: a.cfg.Logger.With("cluster", a.cfg.ClusterID, "token", lease.Token)}
	// The tick never outlives its lease: past it another replica may act.
	ctx, cancel := context.WithTimeout(ctx, a.cfg.LockTTL-a.cfg.ReleaseTimeout)
	defer cancel()
	defer func() {
		// Unlock, whatever happened.
		rctx, cancel := a.detached(ctx)
		defer cancel()
		if rerr := a.cfg.Locker.Release(rctx, lease); rerr != nil {
			t.log.ErrorContext(ctx, "release lock", "err", rerr)
			err = errors.Join(err, fmt.Errorf("release lock: %w", rerr))
		}
	}()
	if lease.TookOver {
		t.event(ctx, Event{Kind: EventStaleLock, Message: fmt.Sprintf("took over a stale lock held by %q", lease.PreviousOwner)})
	}

	res, err = t.run(ctx, delivered)
	res.Time, res.Lease, res.DryRun = start, lease, a.cfg.DryRun
	if err != nil && !t.failed {
		t.event(ctx, Event{Kind: EventFailure, Message: "tick failed: " + res.Reason, Error: err.Error()})
	}
	var undelivered []EventKind
	res.Events, undelivered = t.flush(ctx)
	t.unmark(ctx, undelivered)
	a.publish(ctx, res)
	t.log.InfoContext(ctx, "tick", tickAttrs(res)...)
	return res, err
}

// tickAttrs are the attributes of a tick's log line: its outcome, reason
// and summary, and, when the guardrails changed anything, their verdicts
// (Verdict.String), so that the log says why a node was kept or a step
// held ("keep (keep): node worker-3 stays: it holds node-local data
// (...)").
func tickAttrs(res Result) []any {
	attrs := []any{"outcome", res.Outcome, "reason", res.Reason, "result", res.String()}
	if len(res.Verdicts) == 0 {
		return attrs
	}
	verdicts := make([]string, len(res.Verdicts))
	for i, v := range res.Verdicts {
		verdicts[i] = v.String()
	}
	return append(attrs, "verdicts", verdicts)
}

// publish sends res to the Publisher, if any; a failure is logged.
func (a *Autoscaler) publish(ctx context.Context, res Result) {
	if a.cfg.Publisher == nil {
		return
	}
	pctx, cancel := a.detached(ctx)
	defer cancel()
	if err := a.cfg.Publisher.Publish(pctx, res); err != nil {
		a.cfg.Logger.WarnContext(ctx, "publish metrics", "err", err)
	}
}

// detached returns a context that survives ctx's cancellation for at most
// ReleaseTimeout, for the work that must happen anyway: unlock and the last
// state write.
func (a *Autoscaler) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ReleaseTimeout)
}

// tick is the state of one run: the journal of what was done.
type tick struct {
	a      *Autoscaler
	cfg    *Config
	lease  Lease
	now    time.Time
	log    *slog.Logger
	st     ClusterState
	events []Event
	// later are the nodes of the plan's scale-down victims after the
	// step being carried out; ahead those of them this tick cordoned
	// ahead and has not removed or given back yet.
	later []string
	ahead map[string]bool
	// failed is set once the tick's failure is queued as an event;
	// recorded once the tick's record (and the alerts' marks) is saved.
	failed, recorded bool
}

// event records ev for the tick's notifications, sent by flush once the
// tick has acted.
func (t *tick) event(_ context.Context, ev Event) {
	ev.Time = t.now
	ev.ClusterID = t.cfg.ClusterID
	ev.DryRun = t.cfg.DryRun
	t.events = append(t.events, ev)
}

// flush merges the tick's events into one per kind (mergeEvents), sends
// each to the Notifier and returns them, with the kinds the Notifier
// failed to take: a storm of pods, warnings or failures makes one message
// a kind, not one each.
func (t *tick) flush(ctx context.Context) (evs []Event, undelivered []EventKind) {
	evs = mergeEvents(t.events)
	t.events = nil
	if t.cfg.Notifier == nil {
		return evs, nil
	}
	nctx, cancel := t.a.detached(ctx)
	defer cancel()
	for _, ev := range evs {
		if err := t.cfg.Notifier.Notify(nctx, ev); err != nil {
			t.log.WarnContext(ctx, "notify", "kind", ev.Kind, "err", err)
			undelivered = append(undelivered, ev.Kind)
		}
	}
	return evs, undelivered
}

// mergeEvents returns one event per kind, in the order each kind first
// occurs: an only event as it is; several as one whose message names the
// first alertNames messages and how many more there were, with every
// instance and error, and the first decision.
func mergeEvents(evs []Event) []Event {
	var out []Event
	idx := map[EventKind]int{}
	var msgs [][]string
	var errs [][]string
	for _, ev := range evs {
		i, ok := idx[ev.Kind]
		if !ok {
			idx[ev.Kind] = len(out)
			out = append(out, ev)
			msgs = append(msgs, []string{ev.Message})
			errs = append(errs, nil)
			if ev.Error != "" {
				errs[len(errs)-1] = []string{ev.Error}
			}
			continue
		}
		m := &out[i]
		msgs[i] = append(msgs[i], ev.Message)
		if ev.Error != "" {
			errs[i] = append(errs[i], ev.Error)
		}
		m.Instances = append(slices.Clone(m.Instances), ev.Instances...)
		if m.Decision == nil {
			m.Decision = ev.Decision
		}
	}
	for i := range out {
		if n := len(msgs[i]); n > 1 {
			shown := msgs[i][:min(n, alertNames)]
			out[i].Message = fmt.Sprintf("%d %s events: %s", n, out[i].Kind, strings.Join(shown, "; "))
			if n > len(shown) {
				out[i].Message += fmt.Sprintf(" … and %d more", n-len(shown))
			}
			out[i].Error = strings.Join(errs[i], "; ")
		}
	}
	return out
}

// deadlineNear reports whether ctx's deadline is closer than DeadlineMargin,
// or ctx is done: no new action may start.
func (t *tick) deadlineNear(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	// The deadline is in real time (Lambda's, the lease's); compare it
	// with the real remaining time, not the injected clock.
	return ok && time.Until(d) < t.cfg.DeadlineMargin
}

// save writes the state under the tick's lease, even when ctx is done.
func (t *tick) save(ctx context.Context) error {
	sctx, cancel := t.a.detached(ctx)
	defer cancel()
	t.st.ScalingInProgress = t.st.Operation != nil
	if err := t.cfg.State.Save(sctx, t.lease, t.st); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// run loads, observes, plans, acts and records; the lock is held.
func (t *tick) run(ctx context.Context, delivered []Interruption) (Result, error) {
	st, err := t.cfg.State.Load(ctx)
	if err != nil {
		// A state that cannot be read is never overwritten: nothing
		// is saved, nothing is done.
		return Result{Outcome: OutcomeFailed, Reason: "could not load the state"}, fmt.Errorf("load state: %w", err)
	}
	t.st = st

	obs := t.observe(ctx, delivered)
	plan := PlanTick(t.cfg.Policy, t.a.limits, obs)
	t.alert(ctx, plan)
	t.adopt(ctx, plan, delivered)

	outcomes := t.execute(ctx, plan)
	res, err := t.result(plan, obs, outcomes)
	return t.finish(ctx, res, err)
}

// finish tells the tick's outcomes, records it with the alerts' marks and
// saves the state. A failure is queued before the save so that one that
// repeats is held back like any alert; a failed save is said at once.
func (t *tick) finish(ctx context.Context, res Result, err error) (Result, error) {
	t.notifyOutcomes(ctx, &res)
	if res.DryRun {
		t.notifyWould(ctx, res)
	}

	// Record, with the alerts' marks: the failure is queued here so that
	// a failure that repeats is held back like any alert.
	t.record(res)
	if err != nil {
		t.event(ctx, Event{Kind: EventFailure, Message: "tick failed: " + res.Reason, Error: err.Error()})
		t.failed = true
	}
	t.quiet(ctx)
	if serr := t.save(ctx); serr != nil {
		err = errors.Join(err, serr)
		if res.Outcome == OutcomeHeld {
			res.Outcome, res.Reason = OutcomeFailed, "could not save the state"
		}
		// Nothing was recorded, the alerts' marks neither: said at once.
		t.event(ctx, Event{Kind: EventFailure, Message: "tick failed: could not save the state", Error: serr.Error()})
		t.failed = true
	} else {
		t.recorded = true
	}
	return res, err
}

// observe collects the metrics and lists the fleet and the nodes; a
// failed metric source leaves every core reading missing with its error.
func (t *tick) observe(ctx context.Context, delivered []Interruption) Observation {
	obs := Observation{Now: t.now, State: t.st, Interruptions: delivered}
	obs.Snapshot, obs.MetricsErr = t.cfg.Metrics.Collect(ctx)
	if obs.MetricsErr != nil {
		e := obs.MetricsErr
		obs.Snapshot = Snapshot{Time: t.now, CPU: Missing(e), Memory: Missing(e), PendingPods: Missing(e), APILatency: Missing(e)}
	}
	obs.Instances, obs.InstancesErr = t.cfg.Fleet.List(ctx)
	obs.Nodes, obs.NodesErr = t.cfg.Nodes.ListNodes(ctx)
	obs.Pinned, obs.PinnedErr = t.cfg.Nodes.PinnedData(ctx)
	obs.DeadlineNear = t.deadlineNear(ctx)
	return obs
}

// alert queues the plan's events: entering safety mode (once, when the
// previous tick was not in it) and the plan's alerts. Like every event
// they are sent once per kind after the tick has acted (flush).
func (t *tick) alert(ctx context.Context, plan Plan) {
	if plan.SafetyMode {
		if n := len(t.st.History); n == 0 || !t.st.History[n-1].Safety {
			t.event(ctx, Event{Kind: EventSafetyMode, Message: "entering safety mode, no scale-down: " + strings.Join(plan.SafetyReasons, "; ")})
		}
	}
	for _, ev := range plan.Alerts {
		t.event(ctx, ev)
	}
}

// adopt carries what the plan worked out into the state: the
// interruptions, unplaceable pods, recent launches and outage it keeps,
// the calendar without its past events, and cooldown times in the future
// taken as long ago (and alerted once by the plan).
func (t *tick) adopt(ctx context.Context, plan Plan, delivered []Interruption) {
	for _, at := range []*time.Time{&t.st.LastScaleUp, &t.st.LastScaleDown} {
		if at.After(t.now) {
			*at = time.Time{}
		}
	}
	t.st.Interruptions = plan.Interruptions
	t.st.Unplaceable = plan.UnplaceableKeys
	t.st.Launched = plan.RecentLaunches
	t.st.OutageSince = plan.OutageSince
	live := t.st.Calendar[:0:0]
	for _, e := range t.st.Calendar {
		if e.End.After(t.now) {
			live = append(live, e)
		}
	}
	t.st.Calendar = live
	for _, it := range delivered {
		if !containsInterruption(plan.Interruptions, it.InstanceID) && plan.Blind == "" {
			t.log.InfoContext(ctx, "spot interruption ignored: not an active instance of the fleet", "instance", it.InstanceID)
		}
	}
}

// result assembles the tick's Result from the plan and the outcomes of
// its steps, with the parts' warnings; a blind plan (fleet or nodes not
// listed) fails with the listing's error.
func (t *tick) result(plan Plan, obs Observation, outcomes []StepOutcome) (Result, error) {
	res, err := assemble(plan, outcomes)
	if t.cfg.DryRun {
		res.DryRun = true
		res.Reason = wouldReason(res)
	}
	res.Time, res.Snapshot, res.Interruptions = t.now, obs.Snapshot, t.st.Interruptions
	for _, part := range []any{t.cfg.Metrics, t.cfg.Fleet, t.cfg.Nodes} {
		if w, ok := part.(Warner); ok {
			res.Warnings = append(res.Warnings, w.Warnings()...)
		}
	}
	if plan.Blind != "" {
		res.Outcome, res.Reason = OutcomeFailed, plan.Blind
		err = errors.Join(obs.InstancesErr, obs.NodesErr)
	}
	return res, err
}

func containsInterruption(list []Interruption, id string) bool {
	for _, it := range list {
		if it.InstanceID == id {
			return true
		}
	}
	return false
}

// record appends this tick to the history and sets the state's counters.
func (t *tick) record(res Result) {
	r := res.Record()
	t.st.History = append(t.st.History, r)
	if lim := t.cfg.HistoryLimit; len(t.st.History) > lim {
		// Trim in place: no new slice every tick once the history is full.
		n := copy(t.st.History, t.st.History[len(t.st.History)-lim:])
		clear(t.st.History[n:])
		t.st.History = t.st.History[:n]
	}
	t.st.LongHistory = downsample(t.st.LongHistory, r, t.cfg.LongHistoryStep, t.cfg.LongHistory)
	t.st.NodeCount = res.Instances + len(res.Launched()) - len(res.Terminated())
}

// downsample folds r into long: into the last record while r falls in its
// step (a running mean of the readings, the actions summed), else as a new
// record; records older than span before r are dropped.
func downsample(long []Record, r Record, step, span time.Duration) []Record {
	bucket := r.Time.Truncate(step)
	if n := len(long); n > 0 && long[n-1].Time.Equal(bucket) {
		last := &long[n-1]
		last.Samples++
		k := float64(last.Samples)
		mean := func(old, v float64) float64 {
			switch {
			case math.IsNaN(v):
				return old
			case math.IsNaN(old):
				return v
			}
			return old + (v-old)/k
		}
		last.CPU, last.Memory, last.PendingPods = mean(last.CPU, r.CPU), mean(last.Memory, r.Memory), mean(last.PendingPods, r.PendingPods)
		last.Nodes, last.Instances = r.Nodes, r.Instances
		if len(r.Custom) > 0 {
			// A fresh map: the stored state may share the old one.
			last.Custom = maps.Clone(last.Custom)
		}
		for key, v := range r.Custom {
			if old, ok := last.Custom[key]; ok {
				last.Custom[key] = mean(old, v)
			} else {
				if last.Custom == nil {
					last.Custom = map[string]float64{}
				}
				last.Custom[key] = v
			}
		}
		if r.Action != Hold {
			if last.Action == Hold || last.Action == r.Action {
				last.Action = r.Action
				last.Count += r.Count
			}
		}
		last.Safety = last.Safety || r.Safety
		last.DryRun = last.DryRun || r.DryRun
	} else {
		nr := r
		nr.Time, nr.Samples, nr.Hold, nr.Would = bucket, 1, "", nil
		// The forecasts are judged on the recent history alone.
		nr.ForecastMethod, nr.ForecastNodes, nr.ForecastHeadroom, nr.ForecastLead, nr.ShadowAction, nr.ShadowCount = "", 0, 0, 0, "", 0
		if r.Custom != nil {
			nr.Custom = maps.Clone(r.Custom)
		}
		long = append(long, nr)
	}
	cut := 0
	for cut < len(long) && r.Time.Sub(long[cut].Time) > span {
		cut++
	}
	if cut > 0 {
		n := copy(long, long[cut:])
		clear(long[n:])
		long = long[:n]
	}
	return long
}
