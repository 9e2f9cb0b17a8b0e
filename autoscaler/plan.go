package autoscaler

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Observation is everything one tick observed: the planner's whole input.
// The autoscaler fills it from its parts; tests can write it by hand.
type Observation struct {
	// Now is the tick's time.
	Now time.Time
	// State is the stored state, as loaded.
	State ClusterState
	// Instances are the fleet's instances (FleetProvider.List);
	// InstancesErr is set when they could not be listed.
	Instances    []Instance
	InstancesErr error
	// Nodes are the cluster's Nodes (NodeManager.ListNodes); NodesErr is
	// set when they could not be listed.
	Nodes    []Node
	NodesErr error
	// Snapshot is the metrics reading; MetricsErr is set when the source
	// failed as a whole (every metric is then missing).
	Snapshot   Snapshot
	MetricsErr error
	// Interruptions are spot interruption warnings delivered with this
	// tick (see Autoscaler.HandleInterruption).
	Interruptions []Interruption
	// DeadlineNear is true when the tick's deadline is closer than
	// Config.DeadlineMargin: no new action may start.
	DeadlineNear bool
}

// StepKind names what a step of a plan does.
type StepKind string

// The steps a plan can hold, in the order the executor carries them out.
const (
	// StepRecoverLaunch finishes an earlier tick's launch: the provider
	// finds the operation's instances and launches what is missing.
	StepRecoverLaunch StepKind = "recover-launch"
	// StepRecoverTerminate finishes an earlier scale-down whose node was
	// drained: terminate the instance, delete the Node.
	StepRecoverTerminate StepKind = "recover-terminate"
	// StepRecoverUncordon rolls back an earlier scale-down whose drain was
	// interrupted: the node is given back.
	StepRecoverUncordon StepKind = "recover-uncordon"
	// StepDropOperation forgets an earlier operation that could not be
	// finished in Config.MaxRecoveryAttempts ticks (an alert says so).
	StepDropOperation StepKind = "drop-operation"
	// StepTerminateGhost terminates an instance that never joined.
	StepTerminateGhost StepKind = "terminate-ghost"
	// StepTerminateNotReady terminates an instance whose node stayed
	// NotReady, then deletes the Node.
	StepTerminateNotReady StepKind = "terminate-not-ready"
	// StepDeleteOrphan deletes a managed Node that has no instance.
	StepDeleteOrphan StepKind = "delete-orphan"
	// StepCordonInterrupted cordons the node of an interrupted spot
	// instance, so that nothing new lands on it.
	StepCordonInterrupted StepKind = "cordon-interrupted"
	// StepLaunch launches instances: replacements for interrupted spot
	// instances and the decision's scale-up, as one operation.
	StepLaunch StepKind = "launch"
	// StepDrainInterrupted drains the node of an interrupted spot
	// instance within what is left of its notice.
	StepDrainInterrupted StepKind = "drain-interrupted"
	// StepScaleDown removes one node: cordon, drain, terminate, delete.
	StepScaleDown StepKind = "scale-down"
)

// ReasonCode classifies why a step is in a plan.
type ReasonCode string

// The reasons for steps.
const (
	ReasonRecovery     ReasonCode = "recovery"
	ReasonGhost        ReasonCode = "ghost"
	ReasonNotReady     ReasonCode = "not-ready"
	ReasonOrphan       ReasonCode = "orphan"
	ReasonInterruption ReasonCode = "interruption"
	ReasonPolicy       ReasonCode = "policy"
	ReasonFloor        ReasonCode = "floor"
	ReasonCeiling      ReasonCode = "ceiling"
)

// Reason says why: a code for programs, a sentence for people.
type Reason struct {
	Code ReasonCode
	Text string
}

// Step is one thing a plan does.
type Step struct {
	Kind   StepKind
	Reason Reason
	// InstanceID and NodeName name what the step acts on.
	InstanceID string `json:",omitempty"`
	NodeName   string `json:",omitempty"`
	// Count is the number of instances a launch wants in all (for a
	// recovery, the operation's count).
	Count int `json:",omitempty"`
	// Replacing lists the interrupted instances a launch replaces (they
	// are part of Count).
	Replacing []string `json:",omitempty"`
	// Fit is what a launched worker must offer (LaunchRequest.Fit).
	Fit Resources `json:",omitempty"`
	// OnRepair is how much of a launch's Count fits under MaxNodes only
	// because the plan's repair terminates instances: the executor takes
	// from it one for each of those terminations that failed.
	OnRepair int `json:",omitempty"`
	// Operation is the earlier operation a recovery step finishes.
	Operation *Operation `json:",omitempty"`
}

// String prints the step as one line.
func (s Step) String() string {
	var b strings.Builder
	b.WriteString(string(s.Kind))
	if s.Count > 0 {
		fmt.Fprintf(&b, " %d", s.Count)
	}
	if s.InstanceID != "" {
		b.WriteString(" " + s.InstanceID)
	}
	if s.NodeName != "" {
		b.WriteString(" node " + s.NodeName)
	}
	if s.Reason.Text != "" {
		b.WriteString(": " + s.Reason.Text)
	}
	return b.String()
}

// Plan is what a tick will do and why: the planner's whole output.
type Plan struct {
	// Steps are carried out in order by the executor.
	Steps []Step
	// Proposed is the policy's decision; Decision what the guardrails
	// left of it (its Count is the number of instances to launch or
	// remove now).
	Proposed, Decision Decision
	// Verdicts are the guardrails that changed the decision, in the
	// order they were applied.
	Verdicts []Verdict
	// SafetyMode is true when metrics are missing, stale or nonsense.
	SafetyMode    bool
	SafetyReasons []string
	// Blind is set when the fleet or the nodes could not be listed: the
	// plan then holds everything.
	Blind string
	// Alerts are notifications the plan raises by itself (repair held,
	// an operation dropped, pending pods a launch did not help).
	Alerts []Event
	// ReadyNodes, Booting and Instances describe the fleet as classified
	// (Instances: active instances counted as capacity).
	ReadyNodes, Booting, Instances int
	// Interruptions is the state's list of interruptions after this
	// tick's warnings were merged in and those of gone instances dropped.
	Interruptions []Interruption
	// OutageSince is when many nodes went NotReady at once, until every
	// node is Ready again (ClusterState.OutageSince); zero otherwise.
	OutageSince time.Time
	// Launched is the state's list of recent launches after this tick's
	// observation: those not listed yet, within LaunchVisibility.
	Launched []RecentLaunch
	// Unplaceable are the pending pods no new node would help (from the
	// scheduler's view): left out of every scale-up; UnplaceableKeys the
	// state's list of those alerted.
	Unplaceable     []PendingPod
	UnplaceableKeys []string
}

// Hold returns the code of the guardrail that held the decision, if the
// policy asked for an action that the guardrails turned into a hold.
func (p Plan) Hold() HoldCode {
	if p.Decision.Action != Hold {
		return ""
	}
	for i := len(p.Verdicts) - 1; i >= 0; i-- {
		if p.Verdicts[i].After.Action == Hold {
			return p.Verdicts[i].Code
		}
	}
	return ""
}

// fleetView is the observed fleet, classified.
type fleetView struct {
	live        []Instance      // every active instance of the fleet
	capacity    []Instance      // ready + booting, interrupted ones excluded
	ready       []Candidate     // instances whose node is Ready
	booting     int             // capacity not (yet) Ready
	ghosts      []Instance      // never joined within JoinTimeout
	unhealthy   []Candidate     // node NotReady for longer than NotReadyTimeout
	notReady    int             // joined instances whose node is NotReady, any age
	orphans     []Node          // managed NotReady nodes without an instance
	interrupted []Instance      // spot instances with an interruption notice
	unlisted    int             // recent launches List does not show yet (in live and capacity)
	nodeOf      map[string]Node // by instance id
}

func classify(cfg *Config, now time.Time, instances []Instance, nodes []Node, interrupted map[string]bool) fleetView {
	var v fleetView
	for _, in := range instances {
		if in.State.Active() {
			v.live = append(v.live, in)
		}
	}
	var unmatched []Node
	v.nodeOf, unmatched = MatchNodes(v.live, nodes)
	for _, n := range unmatched {
		if n.Managed && !n.Ready {
			v.orphans = append(v.orphans, n)
		}
	}
	for _, in := range v.live {
		node, joined := v.nodeOf[in.ID]
		age := now.Sub(in.LaunchTime)
		if joined && !node.Ready {
			v.notReady++
		}
		switch {
		case interrupted[in.ID]:
			v.interrupted = append(v.interrupted, in)
		case joined && node.Ready:
			v.capacity = append(v.capacity, in)
			v.ready = append(v.ready, Candidate{Instance: in, Node: node})
		case joined && age >= cfg.JoinTimeout && now.Sub(node.ReadyTransition) >= cfg.NotReadyTimeout:
			v.unhealthy = append(v.unhealthy, Candidate{Instance: in, Node: node})
		case !joined && age >= cfg.JoinTimeout:
			v.ghosts = append(v.ghosts, in)
		default:
			v.capacity = append(v.capacity, in)
			v.booting++
		}
	}
	return v
}

// mergeInterruptions returns the interruptions to keep: those stored, those
// delivered now and those the provider reports on instances, once each,
// for instances of the fleet that are still active. A warning for an
// instance that is not the fleet's (another cluster's, or gone) is dropped.
func mergeInterruptions(stored, delivered []Interruption, live []Instance) []Interruption {
	active := make(map[string]bool, len(live))
	for _, in := range live {
		active[in.ID] = true
	}
	var out []Interruption
	seen := map[string]int{}
	add := func(it Interruption) {
		if !active[it.InstanceID] {
			return
		}
		if i, ok := seen[it.InstanceID]; ok {
			if out[i].ReplacedBy == "" {
				out[i].ReplacedBy = it.ReplacedBy
			}
			return
		}
		seen[it.InstanceID] = len(out)
		out = append(out, it)
	}
	for _, it := range stored {
		add(it)
	}
	for _, it := range delivered {
		add(it)
	}
	for _, in := range live {
		if !in.InterruptionNotice.IsZero() {
			add(Interruption{InstanceID: in.ID, Notice: in.InterruptionNotice})
		}
	}
	return out
}

// PlanTick turns one tick's observation into a plan. It is a pure function
// of cfg and obs (cfg.Policy is called; nothing else of cfg's parts is):
// no I/O, no clock.
func PlanTick(cfg Config, obs Observation) Plan {
	if cfg.JoinTimeout == 0 || cfg.MaxRepairsPerTick == 0 {
		// Callers outside New (tests) get the defaults too.
		_ = cfg.defaults()
	}
	p := Plan{}
	now := obs.Now
	snap := obs.Snapshot
	problems := snap.Problems(now, cfg.MaxMetricAge)
	if obs.MetricsErr != nil {
		problems = []string{"metric source failed: " + obs.MetricsErr.Error()}
	}
	if len(problems) > 0 {
		p.SafetyMode, p.SafetyReasons = true, problems
	}
	switch {
	case obs.InstancesErr != nil:
		p.Blind = "could not list the fleet: " + obs.InstancesErr.Error()
	case obs.NodesErr != nil:
		p.Blind = "could not list the nodes: " + obs.NodesErr.Error()
	}
	if p.Blind != "" {
		// Without the fleet or the nodes nothing can be classified:
		// every instance would look like a ghost. Hold everything;
		// keep what is stored.
		p.Interruptions = slices.Clone(obs.State.Interruptions)
		p.Interruptions = append(p.Interruptions, obs.Interruptions...)
		p.UnplaceableKeys, p.Launched, p.OutageSince = obs.State.Unplaceable, obs.State.Launched, obs.State.OutageSince
		p.Proposed = HoldBecause("%s", p.Blind)
		p.Decision = p.Proposed
		return p
	}

	var live []Instance
	for _, in := range obs.Instances {
		if in.State.Active() {
			live = append(live, in)
		}
	}
	p.Interruptions = mergeInterruptions(obs.State.Interruptions, obs.Interruptions, live)
	interrupted := make(map[string]bool, len(p.Interruptions))
	for _, it := range p.Interruptions {
		interrupted[it.InstanceID] = true
	}
	if sv := snap.Scheduler; sv != nil {
		alerted := make(map[string]bool, len(obs.State.Unplaceable))
		for _, k := range obs.State.Unplaceable {
			alerted[k] = true
		}
		for _, pod := range sv.Unplaceable() {
			p.Unplaceable = append(p.Unplaceable, pod)
			p.UnplaceableKeys = append(p.UnplaceableKeys, pod.Key())
			if !alerted[pod.Key()] {
				p.Alerts = append(p.Alerts, Event{Kind: EventUnplaceable,
					Message: fmt.Sprintf("pod %s will not get a node: %s; no node is launched for it", pod.Key(), pod.Unplaceable)})
			}
		}
	} else {
		// Without the view nothing is known either way: keep the list.
		p.UnplaceableKeys = obs.State.Unplaceable
	}
	v := classify(&cfg, now, obs.Instances, obs.Nodes, interrupted)
	// Instances launched lately that List does not show yet (EC2 is
	// eventually consistent) are booting, not missing.
	listed := make(map[string]bool, len(obs.Instances))
	for _, in := range obs.Instances {
		listed[in.ID] = true
	}
	for _, l := range obs.State.Launched {
		if !listed[l.InstanceID] && now.Sub(l.At) < LaunchVisibility {
			p.Launched = append(p.Launched, l)
			v.booting++
			v.capacity = append(v.capacity, Instance{ID: l.InstanceID, State: StatePending, LaunchTime: l.At})
			v.live = append(v.live, Instance{ID: l.InstanceID, State: StatePending, LaunchTime: l.At})
			v.unlisted++
		}
	}
	p.ReadyNodes, p.Booting, p.Instances = len(v.ready), v.booting, len(v.capacity)
	if c := snap.CPUNodes; c.OK && snap.CPU.OK && int(c.Value) < len(v.ready) {
		p.SafetyMode = true
		p.SafetyReasons = append(p.SafetyReasons, fmt.Sprintf("cpu averages %d node(s) of %d Ready: node_exporter is down on the others", int(c.Value), len(v.ready)))
	}

	s := &situation{cfg: &cfg, obs: &obs, v: &v, plan: &p}
	s.op = obs.State.Operation

	// Recover: an earlier tick's operation is finished or rolled back
	// first; while it is, no new scaling starts (the operation guardrail).
	if op := s.op; op != nil {
		p.Steps = append(p.Steps, s.recovery(op)...)
	}

	// An outage: many nodes NotReady at once. Repair holds from then
	// until every node the fleet runs is Ready again, also when some of
	// the outage's instances went away meanwhile.
	broken := len(v.ghosts) + v.notReady
	s.mass = broken > 1 && float64(broken) > cfg.MassNotReadyShare*float64(len(v.live)-v.unlisted)
	p.OutageSince = obs.State.OutageSince
	switch {
	case s.mass && p.OutageSince.IsZero():
		p.OutageSince = now
	case !s.mass && v.notReady == 0:
		p.OutageSince = time.Time{}
	}

	// Repair, bounded.
	if pause := obs.State.Paused; pause != nil {
		p.Verdicts = append(p.Verdicts, Verdict{Guardrail: "paused", Code: HoldPaused, Message: pause.String() + "; no repair"})
	} else {
		p.Steps = append(p.Steps, s.repair()...)
	}
	for _, st := range p.Steps {
		if st.Kind == StepTerminateGhost || st.Kind == StepTerminateNotReady {
			s.terminating++
		}
	}

	// Replacements for interrupted spot instances, which are never
	// capacity: within MaxNodes counted without them.
	var replacing []string
	for _, it := range p.Interruptions {
		if it.ReplacedBy == "" {
			replacing = append(replacing, it.InstanceID)
		}
	}
	if n := len(replacing); n > 0 {
		room := cfg.MaxNodes - s.occupied()
		switch {
		case obs.State.Paused != nil:
			p.Verdicts = append(p.Verdicts, Verdict{Guardrail: "paused", Code: HoldPaused,
				Message: fmt.Sprintf("%s; %d interrupted instance(s) not replaced", obs.State.Paused, n)})
			replacing = nil
		case s.op != nil:
			p.Verdicts = append(p.Verdicts, Verdict{Guardrail: "operation", Code: HoldOperation,
				Message: fmt.Sprintf("replacement of %d interrupted instance(s) waits for operation %s", n, s.op.ID)})
			replacing = nil
		case obs.DeadlineNear:
			p.Verdicts = append(p.Verdicts, Verdict{Guardrail: "deadline", Code: HoldDeadline,
				Message: fmt.Sprintf("deadline near, replacement of %d interrupted instance(s) left to the next tick", n)})
			replacing = nil
		case room <= 0:
			p.Verdicts = append(p.Verdicts, Verdict{Guardrail: "ceiling", Code: HoldAtMax,
				Message: fmt.Sprintf("at MaxNodes %d without the interrupted instances: no replacement", cfg.MaxNodes)})
			replacing = nil
		case room < n:
			replacing = replacing[:room]
		}
	}
	s.replacing = len(replacing)

	// Decide, then the guardrails.
	in := PolicyInput{
		Now: now, Snapshot: snap, ReadyNodes: len(v.ready), Booting: v.booting,
		MinNodes: cfg.MinNodes, MaxNodes: cfg.MaxNodes, History: obs.State.History, LongHistory: obs.State.LongHistory,
		LastScaleUp: obs.State.LastScaleUp, LastScaleDown: obs.State.LastScaleDown, SafetyMode: p.SafetyMode,
	}
	for _, e := range obs.State.Calendar {
		if e.End.After(now) {
			in.Calendar = append(in.Calendar, e)
		}
	}
	p.Proposed = cfg.Policy.Decide(in)
	d := p.Proposed
	if d.Action != ScaleUp && d.Action != ScaleDown {
		d = Decision{Action: Hold, Reason: d.Reason, Level: d.Level}
	} else if d.Count <= 0 {
		d = HoldBecause("policy asked for %s with count %d", d.Action, d.Count)
	}
	for _, g := range guardrails {
		before := d
		var verdict *Verdict
		d, verdict = g.Apply(s, d)
		if verdict != nil {
			verdict.Guardrail, verdict.Before, verdict.After = g.Name, before, d
			p.Verdicts = append(p.Verdicts, *verdict)
		}
	}
	p.Decision = d
	if s.alertNoProgress != "" {
		p.Alerts = append(p.Alerts, Event{Kind: EventNoProgress, Message: s.alertNoProgress})
	}

	// Act: one launch for the replacements and the scale-up; the
	// interrupted nodes are drained after it (booting takes longer than
	// draining); then the scale-down, node by node.
	up := 0
	if d.Action == ScaleUp {
		up = d.Count
	}
	if total := len(replacing) + up; total > 0 {
		reason := Reason{Code: ReasonPolicy, Text: d.Reason}
		switch {
		case up == 0:
			reason = Reason{Code: ReasonInterruption, Text: fmt.Sprintf("replacing %d interrupted spot instance(s)", len(replacing))}
		case d.Level == LevelGuardrail && strings.Contains(d.Reason, "MinNodes"):
			reason.Code = ReasonFloor
		}
		if up > 0 && len(replacing) > 0 {
			reason.Text += fmt.Sprintf("; and replacing %d interrupted spot instance(s)", len(replacing))
		}
		onRepair := max(0, min(s.terminating, total-(cfg.MaxNodes-(len(v.live)-len(v.interrupted)))))
		p.Steps = append(p.Steps, Step{Kind: StepLaunch, Count: total, Replacing: replacing, Reason: reason, Fit: fitOf(snap.Scheduler), OnRepair: onRepair})
	}
	for _, in := range v.interrupted {
		node, ok := v.nodeOf[in.ID]
		if !ok || obs.DeadlineNear {
			continue
		}
		r := Reason{Code: ReasonInterruption, Text: "spot instance " + in.ID + " will be reclaimed"}
		if !node.Unschedulable {
			p.Steps = append(p.Steps, Step{Kind: StepCordonInterrupted, InstanceID: in.ID, NodeName: node.Name, Reason: r})
		}
		// Drained when cordoned here, and again while pods are left.
		if node.Pods > 0 || !node.Unschedulable {
			p.Steps = append(p.Steps, Step{Kind: StepDrainInterrupted, InstanceID: in.ID, NodeName: node.Name, Reason: r})
		}
	}
	if d.Action == ScaleDown {
		victims, why := ChooseVictims(v.ready, len(v.ready))
		victims, why = s.fitting(victims, why, d.Count)
		if len(victims) == 0 {
			d = HoldBecause("no node can be removed: the pods of none fit on the other nodes (%s)", d.Reason)
			p.Verdicts = append(p.Verdicts, Verdict{Guardrail: "fit", Code: HoldNoRoom, Message: d.Reason, Before: p.Decision, After: d})
			p.Decision = d
		}
		code := ReasonPolicy
		if d.Level == LevelGuardrail {
			code = ReasonCeiling
		}
		for i, c := range victims {
			p.Steps = append(p.Steps, Step{Kind: StepScaleDown, InstanceID: c.Instance.ID, NodeName: c.Node.Name,
				Reason: Reason{Code: code, Text: d.Reason + "; " + why[i]}})
		}
	}
	return p
}

// situation is what the guardrails and the repair rules look at.
type situation struct {
	cfg  *Config
	obs  *Observation
	v    *fleetView
	plan *Plan
	op   *Operation
	// replacing is the number of replacements this plan launches.
	replacing int
	// mass is true when many nodes are NotReady at once now.
	mass bool
	// terminating is the number of instances the plan's repair
	// terminates.
	terminating int
	// forced is set when the floor or the ceiling replaced the decision:
	// the cooldowns and the no-progress rule do not apply to it.
	forced bool
	// alertNoProgress is set by the no-progress guardrail when it holds
	// for the first time.
	alertNoProgress string
}

// cur is the fleet's size as the guardrails count it: instances Ready or
// booting, interrupted ones excluded, plus the replacements planned.
func (s *situation) cur() int { return len(s.v.capacity) + s.replacing }

// occupied is what MaxNodes bounds: every active instance (ghosts and
// NotReady ones awaiting repair included, interrupted ones not) less those
// this plan terminates, plus the replacements it launches. A launch never
// takes it past MaxNodes, also while repair is held in an outage.
func (s *situation) occupied() int {
	return len(s.v.live) - len(s.v.interrupted) - s.terminating + s.replacing
}

// recovery plans the steps that finish or roll back op.
func (s *situation) recovery(op *Operation) []Step {
	cfg, now := s.cfg, s.obs.Now
	age := now.Sub(op.Started)
	if op.Attempts >= cfg.MaxRecoveryAttempts {
		msg := fmt.Sprintf("dropped operation %s (%s) after %d attempts to finish it, %s old; check the provider and the node", op.ID, op.Kind, op.Attempts, age.Round(time.Second))
		s.plan.Alerts = append(s.plan.Alerts, Event{Kind: EventFailure, Message: msg})
		return []Step{{Kind: StepDropOperation, Operation: op, Reason: Reason{Code: ReasonRecovery, Text: msg}}}
	}
	r := func(text string) Reason { return Reason{Code: ReasonRecovery, Text: text} }
	switch op.Kind {
	case OpLaunch:
		found := 0
		for _, in := range s.v.live {
			if in.OperationID == op.ID {
				found++
			}
		}
		// Launch what is missing, within MaxNodes.
		want := min(op.Count, found+max(0, cfg.MaxNodes-s.occupied()))
		return []Step{{Kind: StepRecoverLaunch, Operation: op, Count: want,
			Reason: r(fmt.Sprintf("launch %s: found %d of %d instances", op.ID, found, op.Count))}}
	case OpScaleDown:
		if op.Phase == PhaseTerminating {
			return []Step{{Kind: StepRecoverTerminate, Operation: op, InstanceID: op.InstanceID, NodeName: op.NodeName,
				Reason: r(fmt.Sprintf("scale-down %s: node %s was drained, finishing its removal", op.ID, op.NodeName))}}
		}
		return []Step{{Kind: StepRecoverUncordon, Operation: op, InstanceID: op.InstanceID, NodeName: op.NodeName,
			Reason: r(fmt.Sprintf("scale-down %s: drain of %s was interrupted, giving the node back", op.ID, op.NodeName))}}
	}
	return []Step{{Kind: StepDropOperation, Operation: op, Reason: r(fmt.Sprintf("dropped unknown operation %q of kind %q", op.ID, op.Kind))}}
}

// repair plans the termination of ghosts and of instances whose node stayed
// NotReady, and the deletion of orphaned Nodes, within bounds: none in
// safety mode or near the deadline, none when more than
// Config.MassNotReadyShare of the fleet is broken at once (a control-plane
// or network outage looks like that), at most Config.MaxRepairsPerTick
// instances a tick, and never a NotReady instance when that would leave
// fewer than MinNodes.
func (s *situation) repair() []Step {
	cfg, v, p := s.cfg, s.v, s.plan
	broken := len(v.ghosts) + v.notReady
	if len(v.ghosts)+len(v.unhealthy)+len(v.orphans) == 0 {
		return nil
	}
	held := func(code HoldCode, msg string) []Step {
		p.Verdicts = append(p.Verdicts, Verdict{Guardrail: "repair", Code: code, Message: msg})
		return nil
	}
	switch {
	case s.obs.DeadlineNear:
		return held(HoldDeadline, "deadline near: repair left to the next tick")
	case p.SafetyMode:
		return held(HoldSafety, "safety mode: no instance is terminated as a ghost or NotReady ("+strings.Join(p.SafetyReasons, "; ")+")")
	case s.mass:
		msg := fmt.Sprintf("%d of %d instances are NotReady or never joined (more than %.0f%%): that looks like a control-plane or network outage, not broken machines; nothing is terminated",
			broken, len(v.live)-v.unlisted, 100*cfg.MassNotReadyShare)
		p.Alerts = append(p.Alerts, Event{Kind: EventRepairHeld, Message: msg})
		return held(HoldMassNotReady, msg)
	case !p.OutageSince.IsZero():
		return held(HoldMassNotReady, fmt.Sprintf("an outage made many nodes NotReady at %s: repair holds until every node is Ready again (%d NotReady now)",
			p.OutageSince.UTC().Format(time.RFC3339), v.notReady))
	}
	var steps []Step
	budget := cfg.MaxRepairsPerTick
	for _, g := range v.ghosts {
		if budget == 0 {
			break
		}
		budget--
		steps = append(steps, Step{Kind: StepTerminateGhost, InstanceID: g.ID, Reason: Reason{Code: ReasonGhost,
			Text: fmt.Sprintf("instance %s did not join within %s", g.ID, cfg.JoinTimeout)}})
	}
	// A NotReady instance is terminated only while the fleet, counting it,
	// stays at MinNodes or above; below, the floor launches first.
	floorRoom := len(v.capacity) + len(v.unhealthy) - cfg.MinNodes
	for _, u := range v.unhealthy {
		if budget == 0 || floorRoom <= 0 {
			p.Verdicts = append(p.Verdicts, Verdict{Guardrail: "repair", Code: HoldAtMin,
				Message: fmt.Sprintf("instance %s (node %s NotReady) kept: the per-tick repair bound or MinNodes %d", u.Instance.ID, u.Node.Name, cfg.MinNodes)})
			continue
		}
		budget--
		floorRoom--
		steps = append(steps, Step{Kind: StepTerminateNotReady, InstanceID: u.Instance.ID, NodeName: u.Node.Name,
			Reason: Reason{Code: ReasonNotReady, Text: fmt.Sprintf("node %s NotReady for over %s", u.Node.Name, cfg.NotReadyTimeout)}})
	}
	for _, n := range v.orphans {
		steps = append(steps, Step{Kind: StepDeleteOrphan, NodeName: n.Name, Reason: Reason{Code: ReasonOrphan,
			Text: fmt.Sprintf("node %s is NotReady and no instance of the fleet runs it", n.Name)}})
	}
	return steps
}

// fitting keeps, of the victims in their order, up to n whose pods fit on
// the other Ready nodes of the fleet, as cluster-autoscaler simulates a
// removal (ScaleDownByFit), when the nodes carry their allocatable; the
// others get a verdict saying why they stay. Without allocatable (a
// NodeManager that does not read it) the first n go.
func (s *situation) fitting(victims []Candidate, why []string, n int) ([]Candidate, []string) {
	known := false
	var fleet []Node
	for _, c := range s.v.ready {
		fleet = append(fleet, c.Node)
		known = known || !c.Node.Allocatable.IsZero()
	}
	if !known {
		return victims[:min(n, len(victims))], why[:min(n, len(why))]
	}
	cands := make([]Node, len(victims))
	for i, c := range victims {
		cands[i] = c.Node
	}
	chosen, verdicts := ScaleDownByFit(cands, fleet, n)
	for _, vd := range verdicts {
		if !vd.Fits {
			s.plan.Verdicts = append(s.plan.Verdicts, Verdict{Guardrail: "fit", Code: HoldNoRoom,
				Message: fmt.Sprintf("node %s stays: %s", vd.Node, vd.Reason)})
		}
	}
	keep := make(map[string]bool, len(chosen))
	for _, c := range chosen {
		keep[c.Name] = true
	}
	var outV []Candidate
	var outW []string
	for i, c := range victims {
		if keep[c.Node.Name] {
			outV, outW = append(outV, c), append(outW, why[i]+"; its pods fit on the other nodes")
		}
	}
	return outV, outW
}

// pendingHelpable returns the number of pending pods that a new node would
// help, and whether it is known.
func (s *situation) pendingHelpable() (int, bool) {
	snap := s.obs.Snapshot
	if sv := snap.Scheduler; sv != nil {
		return len(sv.Placeable()), true
	}
	if !snap.PendingPods.OK {
		return 0, false
	}
	return int(snap.PendingPods.Value), true
}

// fitOf is what one new worker must offer for the largest placeable
// pending pod of the view, with the DaemonSet pods that land on every
// worker; zero without a view or a pending pod.
func fitOf(v *SchedulerView) Resources {
	if v == nil {
		return Resources{}
	}
	var largest Resources
	for _, p := range v.Placeable() {
		largest = Resources{MilliCPU: max(largest.MilliCPU, p.Requests.MilliCPU), Memory: max(largest.Memory, p.Requests.Memory), Pods: max(largest.Pods, p.Requests.Pods)}
	}
	if largest.IsZero() {
		return Resources{}
	}
	return largest.Add(v.Template.DaemonSet)
}
