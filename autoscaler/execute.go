package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// StepOutcome is what became of one step of the plan.
type StepOutcome struct {
	Step Step
	// Done is true when the step was carried out.
	Done bool
	// Skipped says why a step was not tried (the deadline, a step it
	// depends on failed, the lease was lost).
	Skipped string `json:",omitempty"`
	// Err is why a step that was tried failed.
	Err error `json:"-"`
	// Shortfall is an expected shortfall rather than a failure: the
	// provider ran short of capacity, a drain was blocked (a
	// PodDisruptionBudget). It is alerted; it does not fail the tick.
	Shortfall error `json:"-"`
	// Launched are the instances a launch step's operation holds.
	Launched []Instance `json:",omitempty"`
	// Would is true when the step would have been carried out but the
	// autoscaler runs dry (Config.DryRun): it was not tried.
	Would bool `json:",omitempty"`
}

// execute carries the plan's steps out in order, journaling each operation
// ahead in the state store. A step that fails stops only the steps that
// depend on it: a failed ghost termination does not stop a launch; a
// failed scale-down stops the next scale-down; a lost lease stops
// everything.
func (t *tick) execute(ctx context.Context, plan Plan) []StepOutcome {
	out := make([]StepOutcome, 0, len(plan.Steps))
	stop := ""     // everything after is skipped
	stopDown := "" // later scale-downs are skipped
	failedRepairs := 0
	for i, step := range plan.Steps {
		if step.Kind == StepLaunch && failedRepairs > 0 && step.OnRepair > 0 {
			// Room a failed termination did not free: launch less.
			cut := min(failedRepairs, step.OnRepair)
			step.Count -= cut
			step.Reason.Text += fmt.Sprintf("; %d fewer: a termination that would have made room under MaxNodes failed", cut)
		}
		o := StepOutcome{Step: step}
		switch {
		case stop != "":
			o.Skipped = stop
		case step.Kind == StepScaleDown && stopDown != "":
			o.Skipped = stopDown
		case step.Kind != StepDropOperation && t.deadlineNear(ctx):
			o.Skipped = "deadline near"
		case step.Kind == StepLaunch && step.Count <= 0:
			o.Skipped = "the terminations that would have made room under MaxNodes failed"
		case t.cfg.DryRun:
			// Nothing is carried out, nothing journaled: the step is
			// what the tick would do.
			o.Would = true
		default:
			t.later = laterVictims(plan.Steps[i+1:])
			o.Err = t.do(ctx, &o)
			o.Done = o.Err == nil
			if errors.Is(o.Err, ErrInsufficientCapacity) || errors.Is(o.Err, ErrDrainBlocked) {
				o.Shortfall, o.Err = o.Err, nil
				o.Done = len(o.Launched) > 0
				if step.Kind == StepScaleDown {
					stopDown = "an earlier scale-down was abandoned: " + o.Shortfall.Error()
				}
			}
		}
		if o.Err != nil {
			t.log.WarnContext(ctx, "step failed", "step", step.String(), "err", o.Err)
			if errors.Is(o.Err, ErrLeaseLost) {
				stop = "the lease was lost: another replica holds the lock"
			}
			switch step.Kind {
			case StepScaleDown:
				stopDown = "an earlier scale-down failed: " + o.Err.Error()
			case StepTerminateGhost, StepTerminateNotReady:
				failedRepairs++
			}
		}
		if step.Kind == StepScaleDown {
			if o.Skipped != "" && t.ahead[step.NodeName] {
				t.giveBack(ctx, step.NodeName)
			}
			delete(t.ahead, step.NodeName)
		}
		out = append(out, o)
	}
	return out
}

// laterVictims are the nodes of the scale-down steps among steps.
func laterVictims(steps []Step) []string {
	var out []string
	for _, s := range steps {
		if s.Kind == StepScaleDown {
			out = append(out, s.NodeName)
		}
	}
	return out
}

// cordonAhead cordons the nodes of a scale-down's later victims not
// cordoned yet. One that cannot be cordoned is logged: its removal
// cordons it again in turn.
func (t *tick) cordonAhead(ctx context.Context, names []string) {
	for _, name := range names {
		if t.ahead[name] {
			continue
		}
		if err := t.cfg.Nodes.Cordon(ctx, name); err != nil {
			t.log.WarnContext(ctx, "cordon a later scale-down victim ahead", "node", name, "err", err)
			continue
		}
		if t.ahead == nil {
			t.ahead = map[string]bool{}
		}
		t.ahead[name] = true
	}
}

// giveBack uncordons the nodes cordoned ahead whose removal did not
// start, even when ctx has run out; it returns what failed.
func (t *tick) giveBack(ctx context.Context, names ...string) error {
	uctx, cancel := t.a.detached(ctx)
	defer cancel()
	var errs []error
	for _, name := range names {
		if err := t.cfg.Nodes.Uncordon(uctx, name); err != nil && !errors.Is(err, ErrNotFound) {
			t.log.WarnContext(ctx, "uncordon a scale-down victim cordoned ahead", "node", name, "err", err)
			errs = append(errs, fmt.Errorf("uncordon %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// do carries out one step.
func (t *tick) do(ctx context.Context, o *StepOutcome) error {
	s := o.Step
	cfg := t.cfg
	switch s.Kind {
	case StepRecoverLaunch, StepRecoverTerminate, StepRecoverUncordon, StepDropOperation:
		return t.recover(ctx, o)
	case StepTerminateGhost:
		return cfg.Fleet.Terminate(ctx, []string{s.InstanceID})
	case StepTerminateNotReady:
		if err := cfg.Fleet.Terminate(ctx, []string{s.InstanceID}); err != nil {
			return err
		}
		if err := cfg.Nodes.DeleteNode(ctx, s.NodeName); err != nil {
			t.log.WarnContext(ctx, "delete NotReady node", "node", s.NodeName, "err", err)
		}
		return nil
	case StepDeleteOrphan:
		return cfg.Nodes.DeleteNode(ctx, s.NodeName)
	case StepCordonInterrupted:
		if err := cfg.Nodes.Cordon(ctx, s.NodeName); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	case StepUncordonExpired:
		if err := cfg.Nodes.Uncordon(ctx, s.NodeName); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	case StepDrainInterrupted:
		dctx, cancel := ctx, context.CancelFunc(func() {})
		if d, ok := ctx.Deadline(); ok {
			// Keep a margin for the record, the release and the
			// notification.
			dctx, cancel = context.WithDeadline(ctx, d.Add(-cfg.DeadlineMargin/2))
		}
		defer cancel()
		if err := cfg.Nodes.Drain(dctx, s.NodeName); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	case StepLaunch:
		return t.launch(ctx, o)
	case StepScaleDown:
		return t.scaleDown(ctx, s)
	}
	return fmt.Errorf("unknown step %q", s.Kind)
}

// remember keeps launched instances in the state until List shows them.
func (t *tick) remember(launched []Instance) {
	for _, in := range launched {
		if !slices.ContainsFunc(t.st.Launched, func(l RecentLaunch) bool { return l.InstanceID == in.ID }) {
			t.st.Launched = append(t.st.Launched, RecentLaunch{InstanceID: in.ID, At: t.now})
		}
	}
}

// markReplaced records that op replaced the first n of replacing.
func (t *tick) markReplaced(replacing []string, n int, opID string) {
	for _, id := range replacing[:min(n, len(replacing))] {
		for i := range t.st.Interruptions {
			if t.st.Interruptions[i].InstanceID == id && t.st.Interruptions[i].ReplacedBy == "" {
				t.st.Interruptions[i].ReplacedBy = opID
			}
		}
	}
}

func (t *tick) launch(ctx context.Context, o *StepOutcome) error {
	s := o.Step
	// A dropped scale-down still waiting for its node to be uncordoned
	// (the only operation a launch starts beside) is carried along.
	waiting := t.st.Operation
	op := &Operation{ID: fmt.Sprintf("%s-%d-up", t.cfg.ClusterID, t.lease.Token), Kind: OpLaunch, Count: s.Count,
		Started: t.now, Replacing: s.Replacing, Fit: s.Fit, Zones: s.Zones, Uncordoning: waiting}
	t.st.Operation = op
	// Write ahead: a tick that dies during the launch leaves the
	// operation for the next one to find.
	if err := t.save(ctx); err != nil {
		t.st.Operation = waiting
		return fmt.Errorf("record the launch before starting it: %w", err)
	}
	got, err := t.cfg.Fleet.Launch(ctx, LaunchRequest{OperationID: op.ID, Count: op.Count, Fit: s.Fit, Zones: s.Zones, ZoneCounts: s.ZoneCounts})
	o.Launched = got
	t.remember(got)
	if len(got) > 0 {
		t.st.LastScaleUp = t.now
	}
	t.markReplaced(s.Replacing, len(got), op.ID)
	if err != nil && !errors.Is(err, ErrInsufficientCapacity) {
		// Keep the operation: the next tick finds what was launched.
		return fmt.Errorf("launch %d instance(s) (%d launched): %w", op.Count, len(got), err)
	}
	t.st.Operation = waiting
	return err
}

// recover finishes, rolls back or drops the operation of an earlier tick.
// A failure counts an attempt; the operation stays for the next tick.
func (t *tick) recover(ctx context.Context, o *StepOutcome) error {
	s := o.Step
	op := *s.Operation
	var err error
	switch s.Kind {
	case StepRecoverLaunch:
		var got []Instance
		got, err = t.cfg.Fleet.Launch(ctx, LaunchRequest{OperationID: op.ID, Count: s.Count, Fit: op.Fit, Zones: op.Zones, ZoneCounts: s.ZoneCounts})
		o.Launched = got
		t.remember(got)
		t.markReplaced(op.Replacing, len(got), op.ID)
		if len(got) > 0 {
			t.st.LastScaleUp = op.Started
		}
		if errors.Is(err, ErrInsufficientCapacity) {
			err = nil
		}
	case StepRecoverTerminate:
		err = t.cfg.Fleet.Terminate(ctx, []string{op.InstanceID})
		if err == nil {
			if derr := t.cfg.Nodes.DeleteNode(ctx, op.NodeName); derr != nil {
				t.log.WarnContext(ctx, "delete node after termination", "node", op.NodeName, "err", derr)
			}
			t.st.LastScaleDown = t.now
		}
	case StepRecoverUncordon:
		err = t.cfg.Nodes.Uncordon(ctx, op.NodeName)
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
	case StepDropOperation:
		if op.Kind == OpScaleDown {
			// A dropped scale-down gives its node back; until it can,
			// the operation stays and no scale-down starts.
			if err = t.cfg.Nodes.Uncordon(ctx, op.NodeName); errors.Is(err, ErrNotFound) {
				err = nil
			}
			if err != nil {
				op.Phase = PhaseUncordoning
			}
		}
	}
	if err == nil && op.Kind == OpScaleDown && len(op.Cordoned) > 0 {
		// The later victims cordoned ahead are given back: their
		// removal is planned again from scratch.
		if err = t.giveBack(ctx, op.Cordoned...); err == nil {
			op.Cordoned = nil
		}
	}
	switch {
	case err != nil && op.Phase == PhaseUncordoning:
		// Dropped: its attempts to finish ended with the drop; giving
		// the node back is tried every tick, no attempt counted.
		t.st.Operation = &op
	case err != nil:
		op.Attempts++
		t.st.Operation = &op
	default:
		// A launch started beside a dropped scale-down hands the
		// journal back to it.
		t.st.Operation = op.Uncordoning
	}
	if serr := t.save(ctx); serr != nil {
		return errors.Join(err, serr)
	}
	switch {
	case err != nil && op.Phase == PhaseUncordoning:
		// Tried every tick until it works: no count of attempts, so
		// that the same failure is the same alert (RealertInterval).
		return fmt.Errorf("recover %s (its node still cordoned): %w", op.ID, err)
	case err != nil:
		return fmt.Errorf("recover %s (attempt %d of %d): %w", op.ID, op.Attempts, t.cfg.MaxRecoveryAttempts, err)
	}
	return nil
}

// scaleDown removes one node: the operation written ahead, cordon, drain,
// the fenced write of the terminating phase, terminate, delete the Node.
func (t *tick) scaleDown(ctx context.Context, s Step) error {
	op := &Operation{ID: fmt.Sprintf("%s-%d-down-%s", t.cfg.ClusterID, t.lease.Token, s.InstanceID), Kind: OpScaleDown,
		NodeName: s.NodeName, InstanceID: s.InstanceID, Phase: PhaseDraining, Started: t.now}
	op.Cordoned = t.later
	t.st.Operation = op
	if err := t.save(ctx); err != nil {
		t.st.Operation = nil
		if t.ahead[s.NodeName] {
			// Cordoned ahead by an earlier victim's removal: given back.
			err = errors.Join(err, t.giveBack(ctx, s.NodeName))
		}
		return fmt.Errorf("record the scale-down before starting it: %w", err)
	}
	err := t.cfg.Nodes.Cordon(ctx, s.NodeName)
	if err == nil {
		// Cordon the later victims too, before any drain: nothing
		// evicted from this node lands on a node about to go.
		t.cordonAhead(ctx, t.later)
		err = t.cfg.Nodes.Drain(ctx, s.NodeName)
	}
	if err != nil {
		// Abandon: give the node back, even when ctx has run out.
		uctx, cancel := t.a.detached(ctx)
		uerr := t.cfg.Nodes.Uncordon(uctx, s.NodeName)
		cancel()
		if uerr != nil && !errors.Is(uerr, ErrNotFound) {
			// The operation stays: the next tick uncordons it.
			// Not a shortfall: the node is left cordoned.
			return fmt.Errorf("drain %s: %v; then uncordon: %w", s.NodeName, err, uerr)
		}
		t.st.Operation = nil
		return fmt.Errorf("drain %s: %w", s.NodeName, err)
	}
	op.Phase = PhaseTerminating
	if err := t.save(ctx); err != nil {
		return err
	}
	if err := t.cfg.Fleet.Terminate(ctx, []string{s.InstanceID}); err != nil {
		// The operation stays in its terminating phase: the next tick
		// finishes it.
		return fmt.Errorf("terminate %s: %w", s.InstanceID, err)
	}
	if err := t.cfg.Nodes.DeleteNode(ctx, s.NodeName); err != nil {
		t.log.WarnContext(ctx, "delete node after termination", "node", s.NodeName, "err", err)
	}
	t.st.Operation = nil
	t.st.LastScaleDown = t.now
	return nil
}

// assemble builds the Result from the plan and what became of its steps,
// and returns with it the failed steps' errors, joined.
func assemble(plan Plan, outcomes []StepOutcome) (Result, error) {
	res := Result{Plan: plan, Steps: outcomes}
	err := res.stepErr()
	var failed []string
	for _, o := range outcomes {
		if o.Err != nil {
			failed = append(failed, fmt.Sprintf("%s failed: %v", o.Step, o.Err))
		}
	}
	d := plan.Decision
	launched, removed := res.Launched(), res.Removed()
	switch {
	case len(removed) > 0:
		res.Outcome = OutcomeScaledDown
		res.Reason = fmt.Sprintf("scaled down %d: %s; removed %s", len(removed), d.Reason, nodeList(removed))
	case len(launched) > 0 && d.Action == ScaleUp:
		res.Outcome = OutcomeScaledUp
		res.Reason = fmt.Sprintf("scaled up %d: %s", len(launched), d.Reason)
	case len(launched) > 0:
		res.Outcome = OutcomeScaledUp
		res.Reason = fmt.Sprintf("launched %d replacement(s) for interrupted spot instances", len(launched))
	case err != nil:
		res.Outcome = OutcomeFailed
		res.Reason = strings.Join(failed, "; ")
	default:
		res.Outcome, res.Reason = OutcomeHeld, heldReason(d, outcomes)
	}
	if err != nil && res.Outcome != OutcomeFailed {
		res.Reason += "; but " + strings.Join(failed, "; ")
	}
	return res, err
}

// nodeList is "node a" or "nodes a, b".
func nodeList(names []string) string {
	if len(names) == 1 {
		return "node " + names[0]
	}
	return "nodes " + strings.Join(names, ", ")
}

// heldReason says why a tick that changed the fleet's size in neither
// direction did not.
func heldReason(d Decision, outcomes []StepOutcome) string {
	if d.Action == Hold {
		if d.Reason == "" {
			return "nothing to do"
		}
		return d.Reason
	}
	// Planned but not carried out: a shortfall, or skipped.
	why := "nothing was done"
	for _, o := range outcomes {
		switch {
		case o.Shortfall != nil && o.Step.Kind == StepLaunch:
			why = "no capacity: " + o.Shortfall.Error()
		case o.Shortfall != nil:
			why = "scale-down abandoned: " + o.Shortfall.Error()
		case o.Skipped != "" && (o.Step.Kind == StepLaunch || o.Step.Kind == StepScaleDown):
			why = o.Skipped
		}
	}
	return fmt.Sprintf("wanted %s but %s", d, why)
}

// notifyOutcomes sends the events for what was done.
func (t *tick) notifyOutcomes(ctx context.Context, res *Result) {
	d := res.Decision
	if ids := res.Ghosts(); len(ids) > 0 {
		t.event(ctx, Event{Kind: EventGhost, Instances: ids,
			Message: fmt.Sprintf("terminated %d instance(s) that did not join within %s", len(ids), t.cfg.JoinTimeout)})
	}
	if ids := res.Replaced(); len(ids) > 0 {
		t.event(ctx, Event{Kind: EventGhost, Instances: ids,
			Message: fmt.Sprintf("terminated %d instance(s) whose node was NotReady for over %s", len(ids), t.cfg.NotReadyTimeout)})
	}
	if rec := res.Recovered(); rec != "" {
		t.event(ctx, Event{Kind: EventRecovered, Message: "recovered an interrupted operation: " + rec})
	}
	for _, o := range res.Steps {
		s := o.Step
		switch s.Kind {
		case StepLaunch:
			ids := instanceIDs(o.Launched)
			switch {
			case o.Shortfall != nil:
				t.event(ctx, Event{Kind: EventCapacity, Decision: &d, Instances: ids, Error: o.Shortfall.Error(),
					Message: fmt.Sprintf("launched %d of %d: %v", len(o.Launched), s.Count, o.Shortfall)})
			case len(o.Launched) > 0 && len(s.Replacing) < s.Count:
				t.event(ctx, Event{Kind: EventScaleUp, Decision: &d, Instances: ids, Message: res.Reason})
			}
			if len(s.Replacing) > 0 {
				t.event(ctx, Event{Kind: EventInterrupted, Instances: append(append([]string(nil), s.Replacing...), ids...),
					Message: fmt.Sprintf("spot instance(s) %s will be reclaimed; %d replacement(s) launched", strings.Join(s.Replacing, ","), res.Replacements())})
			}
		case StepScaleDown:
			if err := errors.Join(o.Err, o.Shortfall); err != nil {
				t.event(ctx, Event{Kind: EventAbandoned, Decision: &d, Instances: []string{s.InstanceID}, Error: err.Error(),
					Message: fmt.Sprintf("scale-down of node %s abandoned: %v", s.NodeName, err)})
			}
		}
	}
	if ids := res.Terminated(); len(ids) > 0 {
		t.event(ctx, Event{Kind: EventScaleDown, Decision: &d, Instances: ids, Message: res.Reason})
	}
}

// Record is the tick's entry in the decision history (as the tick
// appends it to ClusterState.History): its readings, fleet, action, the
// forecast its policy made and a forecast-only policy's decision.
func (r Result) Record() Record {
	rec := recordOf(r)
	rec.Hold = r.Hold()
	if r.DryRun {
		rec.DryRun, rec.Would = true, wouldLines(r)
	}
	return rec
}

// recordOf is the history record of a tick's result.
func recordOf(res Result) Record {
	s := res.Snapshot
	val := func(m Metric) float64 {
		if !m.OK {
			return math.NaN()
		}
		return m.Value
	}
	r := Record{
		Time: res.Time, CPU: val(s.CPU), Memory: val(s.Memory), PendingPods: val(s.PendingPods),
		Nodes: res.ReadyNodes, Instances: res.Instances, Safety: res.SafetyMode,
	}
	if len(s.Custom) > 0 {
		r.Custom = make(map[string]float64, len(s.Custom))
		for _, k := range sortedKeys(s.Custom) {
			r.Custom[k] = val(s.Custom[k])
		}
	}
	switch res.Outcome {
	case OutcomeScaledUp:
		r.Action, r.Count = ScaleUp, len(res.Launched())
	case OutcomeScaledDown:
		r.Action, r.Count = ScaleDown, len(res.Terminated())
	default:
		r.Action = Hold
	}
	recordForecast(&r, res.Proposed)
	return r
}

// recordForecast puts the policy's forecast and its forecast-only
// decision, if any, in r: the shadow's forecast when the acting decision
// has none.
func recordForecast(r *Record, d Decision) {
	fc := d
	if sh := d.Shadow; sh != nil {
		r.ShadowAction, r.ShadowCount = sh.Action, sh.Count
		if sh.Delta() == 0 {
			r.ShadowAction, r.ShadowCount = Hold, 0
		}
		if fc.ForecastMethod == "" {
			fc = *sh
		}
	}
	if fc.ForecastMethod != "" {
		r.ForecastMethod, r.ForecastNodes, r.ForecastHeadroom, r.ForecastLead = fc.ForecastMethod, fc.ForecastNodes, fc.ForecastHeadroom, fc.ForecastLead
	}
}

func instanceIDs(ins []Instance) []string {
	ids := make([]string, len(ins))
	for i, in := range ins {
		ids[i] = in.ID
	}
	return ids
}
