package autoscaler

import (
	"context"
	"fmt"
	"strings"
)

// This file is the dry run's side of the tick (Config.DryRun): how a tick
// that carried nothing out says what it would have done, in its Result,
// its history record and its notifications. The executor marks the steps
// (StepOutcome.Would); everything here reads them.

// brief is a step as one short line for the history: "kind [count]
// [instance] [node name] [op id]", without the reason (the history is
// bounded in bytes).
func (s Step) brief() string {
	var b strings.Builder
	s.head(&b)
	if s.Operation != nil {
		b.WriteString(" op " + s.Operation.ID)
	}
	return b.String()
}

// wouldLines are a dry-run result's would-be steps for its record.
func wouldLines(res Result) []string {
	var out []string
	for _, s := range res.Would() {
		out = append(out, s.brief())
	}
	return out
}

// recoveryKinds are the steps that finish, roll back or drop an earlier
// tick's operation: a dry run leaves that operation alone.
var recoveryKinds = []StepKind{StepRecoverLaunch, StepRecoverTerminate, StepRecoverUncordon, StepDropOperation}

// wouldReason is a dry-run result's Reason: what the tick would have done
// to the fleet's size ("would scale up 3: ...", "would scale down 1: ...;
// would remove node a"), else why it would hold; and the operation in
// flight it left alone, if any.
func wouldReason(res Result) string {
	d := res.Decision
	var names []string
	for _, s := range res.wouldOf(StepScaleDown) {
		names = append(names, s.NodeName)
	}
	launches := res.wouldOf(StepLaunch)
	var why string
	switch {
	case len(names) > 0:
		why = fmt.Sprintf("would scale down %d: %s; would remove %s", len(names), d.Reason, nodeList(names))
	case len(launches) > 0 && d.Action == ScaleUp:
		why = fmt.Sprintf("would scale up %d: %s", launches[0].Count, d.Reason)
	case len(launches) > 0:
		why = fmt.Sprintf("would launch %d replacement(s) for interrupted spot instances", launches[0].Count)
	default:
		why = res.Reason
	}
	if rec := res.wouldOf(recoveryKinds...); len(rec) > 0 {
		why += fmt.Sprintf("; operation %s in flight left alone by the dry run (a live tick would %s: %s)", rec[0].Operation.ID, rec[0].Kind, rec[0].Reason.Text)
	}
	return why
}

// writeWould appends a dry-run result's would-be repairs and removals to
// its String, as String lists the done ones.
func writeWould(b *strings.Builder, r Result) {
	for _, l := range []struct {
		what  string
		kinds []StepKind
		node  bool
	}{
		{"would remove nodes", []StepKind{StepScaleDown}, true},
		{"would terminate ghosts", []StepKind{StepTerminateGhost}, false},
		{"would replace not-ready", []StepKind{StepTerminateNotReady}, false},
		{"would delete orphan nodes", []StepKind{StepDeleteOrphan}, true},
		{"would cordon and drain interrupted", []StepKind{StepCordonInterrupted}, true},
	} {
		var ids []string
		for _, s := range r.wouldOf(l.kinds...) {
			if l.node {
				ids = append(ids, s.NodeName)
			} else {
				ids = append(ids, s.InstanceID)
			}
		}
		if len(ids) > 0 {
			fmt.Fprintf(b, " %s: %s", l.what, strings.Join(ids, ","))
		}
	}
}

// notifyWould sends a dry-run tick's would-be scaling and repair events,
// the counterparts of notifyOutcomes' (t.event marks them DryRun). A
// recovery left alone is in the Result and the log, not notified: it
// would repeat every tick.
func (t *tick) notifyWould(ctx context.Context, res Result) {
	d := res.Decision
	ids := func(steps []Step) []string {
		var out []string
		for _, s := range steps {
			out = append(out, s.InstanceID)
		}
		return out
	}
	if g := ids(res.wouldOf(StepTerminateGhost)); len(g) > 0 {
		t.event(ctx, Event{Kind: EventGhost, Instances: g,
			Message: fmt.Sprintf("would terminate %d instance(s) that did not join within %s", len(g), t.cfg.JoinTimeout)})
	}
	if nr := ids(res.wouldOf(StepTerminateNotReady)); len(nr) > 0 {
		t.event(ctx, Event{Kind: EventGhost, Instances: nr,
			Message: fmt.Sprintf("would terminate %d instance(s) whose node was NotReady for over %s", len(nr), t.cfg.NotReadyTimeout)})
	}
	for _, s := range res.wouldOf(StepLaunch) {
		if len(s.Replacing) < s.Count {
			t.event(ctx, Event{Kind: EventScaleUp, Decision: &d, Message: res.Reason})
		}
		if len(s.Replacing) > 0 {
			t.event(ctx, Event{Kind: EventInterrupted, Instances: append([]string(nil), s.Replacing...),
				Message: fmt.Sprintf("spot instance(s) %s will be reclaimed; would launch %d replacement(s)", strings.Join(s.Replacing, ","), min(len(s.Replacing), s.Count))})
		}
	}
	if down := ids(res.wouldOf(StepScaleDown)); len(down) > 0 {
		t.event(ctx, Event{Kind: EventScaleDown, Decision: &d, Instances: down, Message: res.Reason})
	}
}
