package autoscaler

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Outcome is the short answer to "what did this tick do".
type Outcome string

// The outcomes of a tick.
const (
	// OutcomeSkipped: another replica holds the lock; nothing was done.
	OutcomeSkipped Outcome = "skipped"
	// OutcomeHeld: the tick ran and changed the fleet's size in neither
	// direction (repairs may still have happened).
	OutcomeHeld Outcome = "held"
	// OutcomeScaledUp and OutcomeScaledDown: the fleet grew or shrank.
	OutcomeScaledUp   Outcome = "scaled_up"
	OutcomeScaledDown Outcome = "scaled_down"
	// OutcomeFailed: the tick could not finish; the error says why.
	OutcomeFailed Outcome = "failed"
)

// Result says what a tick did and why: the plan, and what became of each
// of its steps. What was launched, terminated, replaced or recovered is
// read from the steps (Launched, Terminated, ...), never kept twice.
type Result struct {
	// Time is the tick's start.
	Time time.Time
	// Outcome and Reason are the summary: "scaled_up", "3 pending pods".
	Outcome Outcome
	Reason  string
	// Lease is the lease the tick ran under (zero when skipped).
	Lease Lease
	// Snapshot is what was observed.
	Snapshot Snapshot
	// Plan is what the planner made of it (the decision, the verdicts,
	// safety mode, the fleet as classified); zero when the tick ended
	// before planning.
	Plan
	// Steps are the plan's steps, each with what became of it.
	Steps []StepOutcome
	// Warnings are the parts' advice about their configuration (see
	// Warner).
	Warnings []string
	// Events are the notifications sent.
	Events []Event
	// Duration is how long the tick took, on the autoscaler's clock.
	Duration time.Duration
	// DryRun is true when the tick ran dry (Config.DryRun): no step was
	// carried out, Outcome is OutcomeHeld (or OutcomeFailed, or
	// OutcomeSkipped), Reason says what it would have done ("would scale
	// up 3: ...") and Would lists the steps.
	DryRun bool `json:",omitempty"`
}

// done returns the steps of the given kinds that were carried out.
func (r Result) done(kinds ...StepKind) []StepOutcome {
	var out []StepOutcome
	for _, o := range r.Steps {
		for _, k := range kinds {
			if o.Step.Kind == k && o.Done {
				out = append(out, o)
			}
		}
	}
	return out
}

// Launched returns the instances this tick's launch holds (those of a
// launch short of capacity included; an earlier tick's launch finished
// now is told by Recovered).
func (r Result) Launched() []Instance {
	var out []Instance
	for _, o := range r.Steps {
		if o.Step.Kind == StepLaunch {
			out = append(out, o.Launched...)
		}
	}
	return out
}

// Replacements returns the number of launched instances that replace
// interrupted spot instances.
func (r Result) Replacements() int {
	n := 0
	for _, o := range r.Steps {
		if o.Step.Kind == StepLaunch {
			n += min(len(o.Launched), len(o.Step.Replacing))
		}
	}
	return n
}

// Terminated returns the instances the scale-down terminated.
func (r Result) Terminated() []string {
	var ids []string
	for _, o := range r.done(StepScaleDown) {
		ids = append(ids, o.Step.InstanceID)
	}
	return ids
}

// Removed returns the nodes the scale-down removed, in order.
func (r Result) Removed() []string {
	var names []string
	for _, o := range r.done(StepScaleDown) {
		names = append(names, o.Step.NodeName)
	}
	return names
}

// Ghosts returns the instances terminated (the call succeeded) because
// they never joined.
func (r Result) Ghosts() []string {
	var ids []string
	for _, o := range r.done(StepTerminateGhost) {
		ids = append(ids, o.Step.InstanceID)
	}
	return ids
}

// Replaced returns the instances terminated because their node stayed
// NotReady.
func (r Result) Replaced() []string {
	var ids []string
	for _, o := range r.done(StepTerminateNotReady) {
		ids = append(ids, o.Step.InstanceID)
	}
	return ids
}

// OrphansDeleted returns the Nodes deleted because no instance runs them.
func (r Result) OrphansDeleted() []string {
	var names []string
	for _, o := range r.done(StepDeleteOrphan) {
		names = append(names, o.Step.NodeName)
	}
	return names
}

// Recovered describes the earlier tick's operation this tick finished,
// rolled back or dropped; empty when none.
func (r Result) Recovered() string {
	done := r.done(StepRecoverLaunch, StepRecoverTerminate, StepRecoverUncordon, StepDropOperation)
	if len(done) == 0 {
		return ""
	}
	o := done[0]
	s := o.Step
	switch s.Kind {
	case StepRecoverLaunch:
		return s.Reason.Text + fmt.Sprintf(", relaunched to %d", len(o.Launched))
	case StepRecoverTerminate:
		return s.Reason.Text + fmt.Sprintf(": terminated %s and deleted node %s", s.InstanceID, s.NodeName)
	case StepRecoverUncordon:
		return s.Reason.Text + ": node uncordoned"
	}
	return s.Reason.Text
}

// Would returns the steps a dry-run tick would have carried out, in
// order (StepOutcome.Would); none outside a dry run. A recovery step
// among them is an earlier live tick's operation, left alone.
func (r Result) Would() []Step {
	var out []Step
	for _, o := range r.Steps {
		if o.Would {
			out = append(out, o.Step)
		}
	}
	return out
}

// wouldOf returns the would-be steps of the given kinds.
func (r Result) wouldOf(kinds ...StepKind) []Step {
	var out []Step
	for _, s := range r.Would() {
		if slices.Contains(kinds, s.Kind) {
			out = append(out, s)
		}
	}
	return out
}

// stepErr joins the errors of the steps that failed.
func (r Result) stepErr() error {
	var errs []error
	for _, o := range r.Steps {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Step.Kind, o.Err))
		}
	}
	return errors.Join(errs...)
}

// String is the result as one log line; it names every node removed and
// every instance repaired.
func (r Result) String() string {
	var b strings.Builder
	if r.DryRun && r.Outcome == OutcomeHeld {
		b.WriteString("dry run")
	} else {
		fmt.Fprintf(&b, "%s", r.Outcome)
		if r.DryRun {
			b.WriteString(" (dry run)")
		}
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, ": %s", r.Reason)
	}
	if r.Outcome == OutcomeSkipped {
		return b.String()
	}
	fmt.Fprintf(&b, " [ready=%d booting=%d", r.ReadyNodes, r.Booting)
	if r.Snapshot.CPU.OK || r.Snapshot.PendingPods.OK || r.Snapshot.Memory.OK {
		fmt.Fprintf(&b, " cpu=%s mem=%s pending=%s", r.Snapshot.CPU, r.Snapshot.Memory, r.Snapshot.PendingPods)
	}
	b.WriteString("]")
	if r.SafetyMode {
		fmt.Fprintf(&b, " safety mode (%s)", strings.Join(r.SafetyReasons, "; "))
	}
	if rec := r.Recovered(); rec != "" {
		fmt.Fprintf(&b, " recovered: %s", rec)
	}
	for _, l := range []struct {
		what string
		ids  []string
	}{
		{"nodes removed", r.Removed()}, {"ghosts terminated", r.Ghosts()},
		{"not-ready replaced", r.Replaced()}, {"orphan nodes deleted", r.OrphansDeleted()},
	} {
		if len(l.ids) > 0 {
			fmt.Fprintf(&b, " %s: %s", l.what, strings.Join(l.ids, ","))
		}
	}
	if r.DryRun {
		writeWould(&b, r)
	}
	return b.String()
}
