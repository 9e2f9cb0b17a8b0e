package autoscaler

import (
	"fmt"
	"math"
	"slices"
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
	// HoldKeep: a node that holds node-local data, or that an operator
	// annotated scale-down-disabled, is neither repaired nor removed.
	HoldKeep HoldCode = "keep"
)

// Verdict is one guardrail's change to what a plan proposed (the policy's
// decision, the repair, the replacements): its name, a code and the
// sentence a person reads; for a change to the decision, the decision
// before and after it; Alert, when set, is the kind of the event it raises
// (the plan's alerts are made from its verdicts).
type Verdict struct {
	Guardrail string
	Code      HoldCode
	Message   string
	Before    Decision  `json:",omitempty"`
	After     Decision  `json:",omitempty"`
	Alert     EventKind `json:",omitempty"`
}

// String prints the verdict as "cooldown (cooldown): ...".
func (v Verdict) String() string { return v.Guardrail + " (" + string(v.Code) + "): " + v.Message }

// proposal is what the phases before the guardrails proposed: repair steps
// (ghosts, NotReady instances, orphaned Nodes), the interrupted instances
// to replace, the interrupted nodes to cordon and drain, and the policy's
// decision. The guardrails only take away from it, except the floor and
// the ceiling, which replace the decision with a forced one.
type proposal struct {
	repair   []Step
	replace  []string
	evacuate []Step
	decision Decision
}

// terminating is the number of instances the proposal's repair terminates.
func (pr proposal) terminating() int {
	n := 0
	for _, st := range pr.repair {
		if st.Kind == StepTerminateGhost || st.Kind == StepTerminateNotReady {
			n++
		}
	}
	return n
}

// guardrail is one named constraint: a pure function of the situation and
// the proposal, returning what it lets through and its verdicts.
type guardrail struct {
	name  string
	apply func(s *situation, pr proposal) (proposal, []Verdict)
}

// guardrailNames returns the names of the guardrails in the order they apply.
func guardrailNames() []string {
	names := make([]string, len(guardrails))
	for i, g := range guardrails {
		names[i] = g.name
	}
	return names
}

// constrain passes the proposal through the guardrails, in their order,
// and returns what is left with every verdict, each named after its rail.
func constrain(s *situation, pr proposal) (proposal, []Verdict) {
	var out []Verdict
	for _, g := range guardrails {
		var vs []Verdict
		pr, vs = g.apply(s, pr)
		for _, v := range vs {
			v.Guardrail = g.name
			out = append(out, v)
		}
	}
	return pr, out
}

// guardrails is the one place where the precedence of the constraints is
// written. Everything a plan proposes (a policy's decision, a repair, a
// replacement, an interrupted node's drain) flows through them in this
// order; each may cut it or hold it, and the floor and the ceiling may
// replace the decision with a forced one (LevelFloor, LevelCeiling).
var guardrails = []guardrail{
	// repair: repair is bounded. None in safety mode or in an outage
	// (many nodes NotReady at once, or since then until every node is
	// Ready again); never a node that holds node-local data or is
	// annotated scale-down-disabled (alerted, naming the node and the
	// data); at most MaxRepairsPerTick instances; a NotReady instance only
	// while the fleet stays at MinNodes counting it. First: the ceiling
	// below counts the terminations that make room.
	{"repair", repairRail},
	// in-flight: the policy counts a scale-up from Ready capacity; from
	// here on a scale-up's count is what to launch now, net of the
	// instances still booting and of this plan's replacements for
	// interrupted spot instances. A scale-down waits for them: they may
	// be the capacity it removes.
	{"in-flight", inFlightRail},
	// floor: below MinNodes the fleet scales up to it whatever the
	// policy, the metrics or the cooldowns say (a fleet below its floor
	// is broken, not idle). Before the ceiling, which cuts it only when
	// MinNodes = MaxNodes.
	{"floor", floorRail},
	// ceiling: replacements fit under MaxNodes counted without the
	// interrupted instances (so they never push a healthy node out);
	// above MaxNodes, scale down to it; a scale-up is cut to the room
	// left.
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
	// cooldown: only the policy's own actions wait; the floor's and the
	// ceiling's do not.
	{"cooldown", cooldownRail},
	// at-min: a scale-down never takes the fleet below MinNodes.
	{"at-min", atMinRail},
	// paused: an operator's maintenance switch holds whatever the rules
	// above let through, the floor and the ceiling, repair and
	// replacements included (not an interrupted node's drain).
	{"paused", pausedRail},
	// operation: the journal holds one operation at a time; while an
	// earlier tick's is being finished, no launch or scale-down starts.
	// While a dropped scale-down's node waits to be uncordoned, only
	// scale-downs wait (the next victim would be left cordoned too), with
	// an alert; launches go on, the journal keeping the dropped one
	// beside them (Operation.Uncordoning).
	{"operation", operationRail},
	// deadline last: near the tick's deadline nothing new starts,
	// whatever anything above let through.
	{"deadline", deadlineRail},
}

// holdDecision is a verdict that turns d into a hold.
func holdDecision(d Decision, code HoldCode, format string, args ...any) (Decision, Verdict) {
	msg := fmt.Sprintf(format, args...)
	after := Decision{Action: Hold, Reason: msg}
	return after, Verdict{Code: code, Message: msg, Before: d, After: after}
}

// cutDecision is a verdict that leaves d with count n.
func cutDecision(d Decision, n int, code HoldCode, msg string) (Decision, Verdict) {
	after := d
	after.Count = n
	return after, Verdict{Code: code, Message: msg, Before: d, After: after}
}

func repairRail(s *situation, pr proposal) (proposal, []Verdict) {
	if len(pr.repair) == 0 {
		return pr, nil
	}
	v, lim := &s.v, s.lim
	held := func(code HoldCode, alert EventKind, msg string) (proposal, []Verdict) {
		pr.repair = nil
		return pr, []Verdict{{Code: code, Message: msg, Alert: alert}}
	}
	switch {
	case len(s.safety) > 0:
		return held(HoldSafety, "", "safety mode: no instance is terminated as a ghost or NotReady ("+strings.Join(s.safety, "; ")+")")
	case s.mass:
		broken, of := s.share()
		return held(HoldMassNotReady, EventRepairHeld, fmt.Sprintf("%d of %d instances are NotReady or never joined (at least %.0f%%): that looks like a control-plane or network outage, not broken machines; nothing is terminated",
			broken, of, 100*lim.MassNotReadyShare))
	case !s.outageSince.IsZero():
		return held(HoldMassNotReady, "", fmt.Sprintf("an outage made many nodes NotReady at %s: repair holds until every node is Ready again (%d NotReady now)",
			s.outageSince.UTC().Format(time.RFC3339), v.notReady))
	}
	var kept []Step
	var out []Verdict
	pr.repair, out = keepRepair(s, pr.repair)
	var zoneV []Verdict
	pr.repair, zoneV = zoneRepair(s, pr.repair)
	out = append(out, zoneV...)
	budget := lim.MaxRepairsPerTick
	// A NotReady instance is terminated only while the fleet, counting it,
	// stays at MinNodes or above; below, the floor launches first.
	floorRoom := s.serving() + len(v.unhealthy) - lim.MinNodes
	for _, st := range pr.repair {
		switch st.Kind {
		case StepTerminateGhost:
			if budget == 0 {
				continue
			}
			budget--
		case StepTerminateNotReady:
			if budget == 0 || floorRoom <= 0 {
				out = append(out, Verdict{Code: HoldAtMin,
					Message: fmt.Sprintf("instance %s (node %s NotReady) kept: the per-tick repair bound or MinNodes %d", st.InstanceID, st.NodeName, lim.MinNodes)})
				continue
			}
			budget--
			floorRoom--
		}
		kept = append(kept, st)
	}
	pr.repair = kept
	return pr, out
}

// zoneRepair takes out of the repair every instance of a zone in an
// outage (all its workers NotReady or never joined), with one verdict
// that alerts for each such zone.
func zoneRepair(s *situation, repair []Step) ([]Step, []Verdict) {
	if len(s.v.zonesDown) == 0 {
		return repair, nil
	}
	var out []Verdict
	for _, z := range s.v.zonesDown {
		out = append(out, Verdict{Code: HoldMassNotReady, Alert: EventRepairHeld, Message: fmt.Sprintf(
			"every worker in zone %s is NotReady or never joined, or came back from it only now: that looks like the zone's outage, not broken machines; nothing is terminated there", z)})
	}
	var kept []Step
	for _, st := range repair {
		if st.InstanceID != "" && slices.Contains(s.v.zonesDown, s.v.zoneOf[st.InstanceID]) {
			continue
		}
		kept = append(kept, st)
	}
	return kept, out
}

// keepRepair takes out of the repair every ghost and NotReady instance
// that must be kept, each with a verdict that alerts: its node must be
// kept (Node.keep), or node-local data is pinned to its host name
// (fleetView.pinned: a Node deleted while its instance runs leaves the
// instance a ghost with its data on disk). When the pinned data could not
// be listed (Observation.PinnedErr) none of them is terminated: what
// cannot be checked is not assumed safe.
func keepRepair(s *situation, repair []Step) ([]Step, []Verdict) {
	var kept []Step
	var out []Verdict
	var unsure []string
	for _, st := range repair {
		if st.Kind != StepTerminateNotReady && st.Kind != StepTerminateGhost {
			kept = append(kept, st)
			continue
		}
		what := fmt.Sprintf("instance %s (no Node: it never joined, or its Node was deleted)", st.InstanceID)
		why := ""
		if st.Kind == StepTerminateNotReady {
			what = fmt.Sprintf("instance %s (node %s NotReady)", st.InstanceID, st.NodeName)
			why = s.v.nodeOf[st.InstanceID].keep()
		}
		if d := s.v.pinned[st.InstanceID]; why == "" && len(d) > 0 {
			why = "it holds node-local data pinned to its host name (" + strings.Join(d, ", ") + ")"
		}
		if why != "" && s.v.deadKept[st.InstanceID] {
			why += fmt.Sprintf("; broken for over %s, it no longer counts toward an outage", max(keptDeadAfter, s.lim.NotReadyTimeout))
		}
		switch {
		case why != "":
			out = append(out, Verdict{Code: HoldKeep, Alert: EventRepairHeld, Message: fmt.Sprintf(
				"%s is not terminated: %s; bring the node back or move the data, then remove it by hand", what, why)})
		case s.obs.PinnedErr != nil:
			unsure = append(unsure, st.InstanceID)
		default:
			kept = append(kept, st)
		}
	}
	if len(unsure) > 0 {
		out = append(out, Verdict{Code: HoldKeep, Alert: EventRepairHeld, Message: fmt.Sprintf(
			"instance(s) %s are not terminated as ghosts or NotReady: the node-local data pinned to node names could not be listed, so their disks may hold some (%v)",
			strings.Join(unsure, ", "), s.obs.PinnedErr)})
	}
	return kept, out
}

func inFlightRail(s *situation, pr proposal) (proposal, []Verdict) {
	b, r := s.v.booting, s.replaceable(pr)
	d := pr.decision
	if b+r == 0 || d.Action == Hold {
		return pr, nil
	}
	code := HoldBooting
	if b == 0 {
		code = HoldInterruption
	}
	var v Verdict
	switch {
	case d.Action == ScaleDown && b > 0:
		pr.decision, v = holdDecision(d, HoldBooting, "%d instance(s) still booting, no scale-down (%s)", b, d.Reason)
	case d.Action == ScaleDown:
		pr.decision, v = holdDecision(d, HoldInterruption, "replacing %d interrupted spot instance(s), no scale-down (%s)", r, d.Reason)
	case d.Count <= b:
		pr.decision, v = holdDecision(d, HoldBooting, "%d instance(s) still booting cover the wanted +%d (%s)", b, d.Count, d.Reason)
	case d.Count <= b+r:
		pr.decision, v = holdDecision(d, HoldInterruption, "%d instance(s) booting and %d replacement(s) for interrupted spot instances cover the wanted +%d (%s)", b, r, d.Count, d.Reason)
	default:
		pr.decision, v = cutDecision(d, d.Count-b-r, code, fmt.Sprintf("%d booting instance(s) and %d replacement(s) counted", b, r))
		pr.decision.Reason += fmt.Sprintf("; %d booting and %d replacing already counted", b, r)
		v.After = pr.decision
	}
	return pr, []Verdict{v}
}

func floorRail(s *situation, pr proposal) (proposal, []Verdict) {
	cur, lo := s.cur(pr), s.lim.MinNodes
	d := pr.decision
	if cur >= lo || (d.Action == ScaleUp && d.Count > lo-cur) {
		return pr, nil
	}
	msg := fmt.Sprintf("%d active instances, below MinNodes %d", cur, lo)
	pr.decision = Decision{Action: ScaleUp, Count: lo - cur, Level: LevelFloor, Reason: msg}
	return pr, []Verdict{{Code: HoldFloor, Message: msg, Before: d, After: pr.decision}}
}

func ceilingRail(s *situation, pr proposal) (proposal, []Verdict) {
	var out []Verdict
	hi := s.lim.MaxNodes
	if n := len(pr.replace); n > 0 {
		room := hi - s.occupied(proposal{repair: pr.repair})
		switch {
		case room <= 0:
			out = append(out, Verdict{Code: HoldAtMax, Message: fmt.Sprintf("at MaxNodes %d without the interrupted instances: no replacement", hi)})
			pr.replace = nil
		case room < n:
			out = append(out, Verdict{Code: HoldAtMax, Message: fmt.Sprintf("%d of %d interrupted instance(s) replaced: MaxNodes %d", room, n, hi)})
			pr.replace = pr.replace[:room]
		}
	}
	d, cur, occupied := pr.decision, s.cur(pr), s.occupied(pr)
	var v Verdict
	switch {
	case cur > hi:
		msg := fmt.Sprintf("%d active instances, above MaxNodes %d", cur, hi)
		pr.decision = Decision{Action: ScaleDown, Count: cur - hi, Level: LevelCeiling, Reason: msg}
		v = Verdict{Code: HoldCeiling, Message: msg, Before: d, After: pr.decision}
	case d.Action != ScaleUp || d.Count <= hi-occupied:
		return pr, out
	case hi-occupied <= 0:
		if cur < s.lim.MinNodes {
			// The floor cannot be reached: instances that are not
			// capacity (NotReady, never joined) fill the ceiling.
			out = append(out, Verdict{Code: HoldAtMax, Alert: EventFloorUnmet, Message: fmt.Sprintf(
				"%d instances are capacity, below MinNodes %d, but %d active instances fill MaxNodes %d: not launching until the others are repaired",
				cur, s.lim.MinNodes, occupied, hi)})
		}
		pr.decision, v = holdDecision(d, HoldAtMax, "at MaxNodes %d counting %d active instances; wanted +%d (%s)", hi, occupied, d.Count, d.Reason)
	default:
		room := hi - occupied
		if cur+room < s.lim.MinNodes {
			out = append(out, Verdict{Code: HoldAtMax, Alert: EventFloorUnmet, Message: fmt.Sprintf(
				"%d instances are capacity, below MinNodes %d, and %d active instances leave room for %d under MaxNodes %d: the fleet stays below its floor until the others are repaired",
				cur, s.lim.MinNodes, occupied, room, hi)})
		}
		pr.decision, v = cutDecision(d, room, HoldAtMax, fmt.Sprintf("cut from +%d to +%d by MaxNodes %d", d.Count, room, hi))
	}
	return pr, append(out, v)
}

func safetyRail(s *situation, pr proposal) (proposal, []Verdict) {
	if pr.decision.Action != ScaleDown || (len(s.safety) == 0 && s.partialCPU == "") {
		return pr, nil
	}
	var v Verdict
	if len(s.safety) == 0 {
		pr.decision, v = holdDecision(pr.decision, HoldSafety, "no scale-down: %s", s.partialCPU)
		return pr, []Verdict{v}
	}
	pr.decision, v = holdDecision(pr.decision, HoldSafety, "safety mode, no scale-down: %s", strings.Join(s.safety, "; "))
	return pr, []Verdict{v}
}

func pendingRail(s *situation, pr proposal) (proposal, []Verdict) {
	if pr.decision.Action != ScaleDown {
		return pr, nil
	}
	n, known := s.pendingHelpable()
	if !known || n == 0 {
		return pr, nil
	}
	// Without the scheduler's view, pending pods that stay as many (the
	// no-progress rule) still block a scale-down: a count that stayed the
	// same need not be the same pods. Only the view tells which pods no
	// node helps.
	var v Verdict
	pr.decision, v = holdDecision(pr.decision, HoldPendingPods, "%d pending pod(s) a new node would help, no scale-down (%s)", n, pr.decision.Reason)
	return pr, []Verdict{v}
}

func noProgressRail(s *situation, pr proposal) (proposal, []Verdict) {
	d := pr.decision
	if d.Action != ScaleUp || d.forced() || s.obs.Snapshot.Scheduler != nil {
		return pr, nil
	}
	stuck, at := s.stuck()
	if !stuck {
		return pr, nil
	}
	var v Verdict
	pr.decision, v = s.holdAboveFloor(pr, HoldNoProgress, "%.0f pod(s) still pending, as many as when %d node(s) were launched for them at %s, and those nodes are Ready: no new node helps them (check their nodeSelector, affinity, tolerations and requests); not launching again until the pending count changes",
		at.PendingPods, at.Count, at.Time.UTC().Format(time.RFC3339))
	if h := s.obs.State.History; len(h) == 0 || h[len(h)-1].Hold != HoldNoProgress {
		v.Alert = EventNoProgress
	}
	return pr, []Verdict{v}
}

// holdAboveFloor holds the proposal's scale-up, except what the floor
// needs: below MinNodes a policy's scale-up larger than the floor's (which
// the floor rail lets through as the policy's) is cut to the floor's share,
// forced like the floor's own, instead of held.
func (s *situation) holdAboveFloor(pr proposal, code HoldCode, format string, args ...any) (Decision, Verdict) {
	d := pr.decision
	need := s.lim.MinNodes - s.cur(pr)
	if need <= 0 {
		return holdDecision(d, code, format, args...)
	}
	msg := fmt.Sprintf(format, args...)
	after := Decision{Action: ScaleUp, Count: min(d.Count, need), Level: LevelFloor,
		Reason: fmt.Sprintf("%d active instances, below MinNodes %d; the rest of the policy's +%d waits: %s", s.cur(pr), s.lim.MinNodes, d.Count, msg)}
	return after, Verdict{Code: code, Message: fmt.Sprintf("cut from +%d to the floor's +%d: %s", d.Count, after.Count, msg), Before: d, After: after}
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

func cooldownRail(s *situation, pr proposal) (proposal, []Verdict) {
	d := pr.decision
	if d.forced() {
		return pr, nil
	}
	st, now := &s.obs.State, s.obs.Now
	var v Verdict
	switch d.Action {
	case ScaleUp:
		since := now.Sub(st.LastScaleUp)
		if st.LastScaleUp.IsZero() || since >= s.lim.ScaleUpCooldown {
			return pr, nil
		}
		pr.decision, v = s.holdAboveFloor(pr, HoldCooldown, "scale-up cooldown: %s since the last scale-up, %s required (%s)", since.Round(time.Second), s.lim.ScaleUpCooldown, d.Reason)
	case ScaleDown:
		last := st.LastScaleUp
		if st.LastScaleDown.After(last) {
			last = st.LastScaleDown
		}
		since := now.Sub(last)
		if last.IsZero() || since >= s.lim.ScaleDownCooldown {
			return pr, nil
		}
		pr.decision, v = holdDecision(d, HoldCooldown, "scale-down cooldown: %s since the last scaling action, %s required (%s)", since.Round(time.Second), s.lim.ScaleDownCooldown, d.Reason)
	default:
		return pr, nil
	}
	return pr, []Verdict{v}
}

func atMinRail(s *situation, pr proposal) (proposal, []Verdict) {
	d := pr.decision
	if d.Action != ScaleDown {
		return pr, nil
	}
	room := s.cur(pr) - s.lim.MinNodes
	var v Verdict
	switch {
	case room <= 0:
		pr.decision, v = holdDecision(d, HoldAtMin, "at MinNodes %d (%s)", s.lim.MinNodes, d.Reason)
	case d.Count > room:
		pr.decision, v = cutDecision(d, room, HoldAtMin, fmt.Sprintf("cut from -%d to -%d by MinNodes %d", d.Count, room, s.lim.MinNodes))
	default:
		return pr, nil
	}
	return pr, []Verdict{v}
}

// holdAll is the verdicts of a rail that stops every new action of the
// proposal it is given (repair, replacements, the decision); why says
// what stops it, each verdict what it stopped.
func holdAll(pr proposal, code HoldCode, repair bool, why string) (proposal, []Verdict) {
	var out []Verdict
	if repair && len(pr.repair) > 0 {
		out = append(out, Verdict{Code: code, Message: why + "; no repair"})
		pr.repair = nil
	}
	if n := len(pr.replace); n > 0 {
		out = append(out, Verdict{Code: code, Message: fmt.Sprintf("%s; %d interrupted instance(s) not replaced", why, n)})
		pr.replace = nil
	}
	if d := pr.decision; d.Action != Hold {
		var v Verdict
		pr.decision, v = holdDecision(d, code, "%s; not starting %s", why, d)
		out = append(out, v)
	}
	return pr, out
}

func pausedRail(s *situation, pr proposal) (proposal, []Verdict) {
	p := s.obs.State.Paused
	if p == nil {
		return pr, nil
	}
	return holdAll(pr, HoldPaused, true, p.String())
}

func operationRail(s *situation, pr proposal) (proposal, []Verdict) {
	op := s.obs.State.Operation
	if op == nil {
		return pr, nil
	}
	if op.Kind == OpScaleDown && op.Phase == PhaseUncordoning {
		return strandedRail(op, pr)
	}
	// Repair runs while an operation is finished: it does not touch it.
	return holdAll(pr, HoldOperation, false, fmt.Sprintf("operation %s (%s) of an earlier tick is being finished first", op.ID, op.Kind))
}

// strandedRail holds every scale-down (the policy's and the ceiling's)
// while a dropped scale-down's node waits to be uncordoned: the next
// victim would be left cordoned too. Launches (the floor's, pending pods',
// replacements) go on: a cordoned node is no capacity, and holding them
// would leave the fleet short for as long as the uncordon fails. Its
// verdict alerts until the node is given back; its message says only what
// is stuck (no attempt count, no policy reading), so that the alert is
// sent again once every RealertInterval, not every tick (the decision
// held is the verdict's Before).
func strandedRail(op *Operation, pr proposal) (proposal, []Verdict) {
	d := pr.decision
	if d.Action != ScaleDown {
		return pr, nil
	}
	var v Verdict
	pr.decision, v = holdDecision(d, HoldOperation, "scale-down %s was dropped and its node %s could not be uncordoned yet: no scale-down until it is given back; launches go on",
		op.ID, op.NodeName)
	v.Alert = EventFailure
	return pr, []Verdict{v}
}

func deadlineRail(s *situation, pr proposal) (proposal, []Verdict) {
	if !s.obs.DeadlineNear {
		return pr, nil
	}
	pr.evacuate = nil
	return holdAll(pr, HoldDeadline, true, "deadline near")
}
