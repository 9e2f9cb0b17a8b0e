package autoscaler

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// HoldCode says, for programs, why a guardrail held or cut a decision.
type HoldCode string

// The codes the guardrails use.
const (
	HoldBooting      HoldCode = "booting"
	HoldInterruption HoldCode = "interruption"
	HoldAtMax        HoldCode = "at-max"
	HoldAtMin        HoldCode = "at-min"
	HoldSafety       HoldCode = "safety"
	HoldPendingPods  HoldCode = "pending-pods"
	HoldNoProgress   HoldCode = "no-progress"
	HoldCooldown     HoldCode = "cooldown"
	HoldOperation    HoldCode = "operation"
	HoldDeadline     HoldCode = "deadline"
	HoldMassNotReady HoldCode = "mass-not-ready"
	HoldFloor        HoldCode = "floor"
	HoldCeiling      HoldCode = "ceiling"
	HoldPaused       HoldCode = "paused"
	HoldNoRoom       HoldCode = "no-room"
)

// Verdict is one guardrail's change to a decision (or to the repair): its
// name, a code and the sentence a person reads, and the decision before
// and after it.
type Verdict struct {
	Guardrail string
	Code      HoldCode
	Message   string
	Before    Decision `json:",omitempty"`
	After     Decision `json:",omitempty"`
}

// String prints the verdict as "cooldown (cooldown): ...".
func (v Verdict) String() string { return v.Guardrail + " (" + string(v.Code) + "): " + v.Message }

// guardrail is one named constraint on the policy's decision. Apply returns
// the decision it lets through and, when it changed it, a verdict.
type guardrail struct {
	Name  string
	Apply func(s *situation, d Decision) (Decision, *Verdict)
}

// Guardrails returns the names of the guardrails in the order they apply.
func Guardrails() []string {
	names := make([]string, len(guardrails))
	for i, g := range guardrails {
		names[i] = g.Name
	}
	return names
}

// guardrails is the one place where the precedence of the constraints is
// written. A decision flows through them in this order; each may cut it,
// turn it into a hold, or (the floor and the ceiling) replace it.
var guardrails = []guardrail{
	// booting first: the policy counts a scale-up from Ready capacity;
	// from here on a scale-up's count is what to launch now, net of the
	// instances still booting, so every later rule counts alike. A
	// scale-down waits for them: they may be the capacity it removes.
	{"booting", bootingRail},
	// interruption: the replacements this tick launches for interrupted
	// spot instances are capacity too (they are not subject to the
	// cooldowns below: they are not the policy's); no scale-down while
	// they are being replaced.
	{"interruption", interruptionRail},
	// floor: below MinNodes the fleet scales up to it whatever the
	// policy, the metrics or the cooldowns say (a fleet below its floor
	// is broken, not idle). Before the ceiling, which cuts it only when
	// MinNodes = MaxNodes.
	{"floor", floorRail},
	// ceiling: above MaxNodes, scale down to it; a scale-up is cut to
	// the room left. Interrupted instances are not counted, so their
	// replacements never push a healthy node out.
	{"ceiling", ceilingRail},
	// safety: never scale down on missing, stale or nonsense metrics,
	// even to the ceiling: holding costs money, acting blind can take the
	// shop down.
	{"safety", safetyRail},
	// pending-pods: no scale-down while pods a new node would help are
	// pending, whatever the policy (a FirstOf of custom policies may
	// not know).
	{"pending-pods", pendingRail},
	// no-progress: without the scheduler's view, pending pods that stayed
	// exactly as many after the nodes launched for them became Ready are
	// pods no node helps (a typo in a nodeSelector): do not launch again.
	{"no-progress", noProgressRail},
	// cooldown: only the policy's own actions wait; the floor and the
	// ceiling above do not.
	{"cooldown", cooldownRail},
	// at-min: a scale-down never takes the fleet below MinNodes.
	{"at-min", atMinRail},
	// paused: an operator's maintenance switch holds whatever the rules
	// above produced, the floor and the ceiling included.
	{"paused", pausedRail},
	// operation: the journal holds one operation at a time; while an
	// earlier tick's is being finished, nothing new starts. Near the end,
	// so that it holds whatever the rules above produced.
	{"operation", operationRail},
	// deadline last: near the tick's deadline nothing new starts, whatever
	// anything above decided.
	{"deadline", deadlineRail},
}

func holdVerdict(code HoldCode, format string, args ...any) (Decision, *Verdict) {
	msg := fmt.Sprintf(format, args...)
	return Decision{Action: Hold, Reason: msg}, &Verdict{Code: code, Message: msg}
}

func bootingRail(s *situation, d Decision) (Decision, *Verdict) {
	b := s.v.booting
	if b == 0 {
		return d, nil
	}
	switch d.Action {
	case ScaleUp:
		if d.Count <= b {
			return holdVerdict(HoldBooting, "%d instance(s) still booting cover the wanted +%d (%s)", b, d.Count, d.Reason)
		}
		d.Count -= b
		d.Reason += fmt.Sprintf("; %d booting already counted", b)
		return d, &Verdict{Code: HoldBooting, Message: fmt.Sprintf("%d booting instance(s) counted", b)}
	case ScaleDown:
		return holdVerdict(HoldBooting, "%d instance(s) still booting, no scale-down (%s)", b, d.Reason)
	}
	return d, nil
}

func interruptionRail(s *situation, d Decision) (Decision, *Verdict) {
	r := s.replacing
	if r == 0 {
		return d, nil
	}
	switch d.Action {
	case ScaleUp:
		if d.Count <= r {
			return holdVerdict(HoldInterruption, "the %d replacement(s) for interrupted spot instances cover the wanted +%d (%s)", r, d.Count, d.Reason)
		}
		d.Count -= r
		return d, &Verdict{Code: HoldInterruption, Message: fmt.Sprintf("%d replacement(s) counted", r)}
	case ScaleDown:
		return holdVerdict(HoldInterruption, "replacing %d interrupted spot instance(s), no scale-down (%s)", r, d.Reason)
	}
	return d, nil
}

func floorRail(s *situation, d Decision) (Decision, *Verdict) {
	cur, lo := s.cur(), s.cfg.MinNodes
	if cur >= lo {
		return d, nil
	}
	need := lo - cur
	if d.Action == ScaleUp && d.Count > need {
		return d, nil
	}
	s.forced = true
	msg := fmt.Sprintf("%d active instances, below MinNodes %d", cur, lo)
	return Decision{Action: ScaleUp, Count: need, Level: LevelGuardrail, Reason: msg}, &Verdict{Code: HoldFloor, Message: msg}
}

func ceilingRail(s *situation, d Decision) (Decision, *Verdict) {
	cur, hi := s.cur(), s.cfg.MaxNodes
	if cur > hi {
		s.forced = true
		msg := fmt.Sprintf("%d active instances, above MaxNodes %d", cur, hi)
		return Decision{Action: ScaleDown, Count: cur - hi, Level: LevelGuardrail, Reason: msg}, &Verdict{Code: HoldCeiling, Message: msg}
	}
	if d.Action != ScaleUp {
		return d, nil
	}
	room := hi - s.occupied()
	if room <= 0 {
		if cur < s.cfg.MinNodes {
			// The floor cannot be reached: instances that are not
			// capacity (NotReady, never joined) fill the ceiling.
			s.plan.Alerts = append(s.plan.Alerts, Event{Kind: EventFloorUnmet, Message: fmt.Sprintf(
				"%d instances are capacity, below MinNodes %d, but %d active instances fill MaxNodes %d: not launching until the others are repaired",
				cur, s.cfg.MinNodes, s.occupied(), hi)})
		}
		return holdVerdict(HoldAtMax, "at MaxNodes %d counting %d active instances; wanted +%d (%s)", hi, s.occupied(), d.Count, d.Reason)
	}
	if d.Count > room {
		msg := fmt.Sprintf("cut from +%d to +%d by MaxNodes %d", d.Count, room, hi)
		if cur+room < s.cfg.MinNodes {
			s.plan.Alerts = append(s.plan.Alerts, Event{Kind: EventFloorUnmet, Message: fmt.Sprintf(
				"%d instances are capacity, below MinNodes %d, and %d active instances leave room for %d under MaxNodes %d: the fleet stays below its floor until the others are repaired",
				cur, s.cfg.MinNodes, s.occupied(), room, hi)})
		}
		d.Count = room
		return d, &Verdict{Code: HoldAtMax, Message: msg}
	}
	return d, nil
}

func safetyRail(s *situation, d Decision) (Decision, *Verdict) {
	if d.Action != ScaleDown || !s.plan.SafetyMode {
		return d, nil
	}
	return holdVerdict(HoldSafety, "safety mode, no scale-down: %s", strings.Join(s.plan.SafetyReasons, "; "))
}

func pendingRail(s *situation, d Decision) (Decision, *Verdict) {
	if d.Action != ScaleDown {
		return d, nil
	}
	n, known := s.pendingHelpable()
	if !known || n == 0 {
		return d, nil
	}
	// Without the scheduler's view, pending pods that stay as many (the
	// no-progress rule) still block a scale-down: a count that stayed the
	// same need not be the same pods. Only the view tells which pods no
	// node helps.
	return holdVerdict(HoldPendingPods, "%d pending pod(s) a new node would help, no scale-down (%s)", n, d.Reason)
}

func noProgressRail(s *situation, d Decision) (Decision, *Verdict) {
	if d.Action != ScaleUp || s.forced || s.obs.Snapshot.Scheduler != nil {
		return d, nil
	}
	stuck, at := s.stuck()
	if !stuck {
		return d, nil
	}
	msg := fmt.Sprintf("%.0f pod(s) still pending, as many as when %d node(s) were launched for them at %s, and those nodes are Ready: no new node helps them (check their nodeSelector, affinity, tolerations and requests); not launching again until the pending count changes",
		at.PendingPods, at.Count, at.Time.UTC().Format(time.RFC3339))
	if h := s.obs.State.History; len(h) == 0 || h[len(h)-1].Hold != HoldNoProgress {
		s.alertNoProgress = msg
	}
	return holdVerdict(HoldNoProgress, "%s", msg)
}

// stuck reports whether the pending pods stayed exactly as many in every
// tick since the last scale-up made for them, and nothing it launched is
// still booting: the pods a launch did not help.
func (s *situation) stuck() (bool, Record) {
	pending, ok := s.pendingHelpable()
	if !ok || pending == 0 || s.v.booting > 0 {
		return false, Record{}
	}
	h := s.obs.State.History
	for i := len(h) - 1; i >= 0; i-- {
		r := h[i]
		if math.IsNaN(r.PendingPods) || int(r.PendingPods) != pending {
			return false, Record{}
		}
		if r.Action == ScaleUp {
			return true, r
		}
	}
	return false, Record{}
}

func cooldownRail(s *situation, d Decision) (Decision, *Verdict) {
	if s.forced {
		return d, nil
	}
	st, now := &s.obs.State, s.obs.Now
	switch d.Action {
	case ScaleUp:
		if since := now.Sub(st.LastScaleUp); !st.LastScaleUp.IsZero() && since < s.cfg.ScaleUpCooldown {
			return holdVerdict(HoldCooldown, "scale-up cooldown: %s since the last scale-up, %s required (%s)", since.Round(time.Second), s.cfg.ScaleUpCooldown, d.Reason)
		}
	case ScaleDown:
		last := st.LastScaleUp
		if st.LastScaleDown.After(last) {
			last = st.LastScaleDown
		}
		if since := now.Sub(last); !last.IsZero() && since < s.cfg.ScaleDownCooldown {
			return holdVerdict(HoldCooldown, "scale-down cooldown: %s since the last scaling action, %s required (%s)", since.Round(time.Second), s.cfg.ScaleDownCooldown, d.Reason)
		}
	}
	return d, nil
}

func atMinRail(s *situation, d Decision) (Decision, *Verdict) {
	if d.Action != ScaleDown {
		return d, nil
	}
	room := s.cur() - s.cfg.MinNodes
	if room <= 0 {
		return holdVerdict(HoldAtMin, "at MinNodes %d (%s)", s.cfg.MinNodes, d.Reason)
	}
	if d.Count > room {
		msg := fmt.Sprintf("cut from -%d to -%d by MinNodes %d", d.Count, room, s.cfg.MinNodes)
		d.Count = room
		return d, &Verdict{Code: HoldAtMin, Message: msg}
	}
	return d, nil
}

func pausedRail(s *situation, d Decision) (Decision, *Verdict) {
	p := s.obs.State.Paused
	if d.Action == Hold || p == nil {
		return d, nil
	}
	return holdVerdict(HoldPaused, "%s; not starting %s", p, d)
}

func operationRail(s *situation, d Decision) (Decision, *Verdict) {
	if d.Action == Hold || s.op == nil {
		return d, nil
	}
	return holdVerdict(HoldOperation, "operation %s (%s) of an earlier tick is being finished first; not starting %s", s.op.ID, s.op.Kind, d)
}

func deadlineRail(s *situation, d Decision) (Decision, *Verdict) {
	if d.Action == Hold || !s.obs.DeadlineNear {
		return d, nil
	}
	return holdVerdict(HoldDeadline, "deadline near, not starting %s", d)
}
