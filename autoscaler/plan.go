package autoscaler

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
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
	// Pinned is the node-local data pinned to node names
	// (NodeManager.PinnedData), by name; PinnedErr is set when it could
	// not be listed: no instance is then terminated as a ghost or
	// NotReady, nor scaled down.
	Pinned    map[string][]string
	PinnedErr error
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

// Plan is what a tick will do and why: the planner's whole output.
type Plan struct {
	// Steps are carried out in order by the executor.
	Steps []Step
	// Proposed is the policy's decision; Decision what the guardrails
	// left of it (its Count is the number of instances to launch or
	// remove now).
	Proposed, Decision Decision
	// Verdicts are what the guardrails changed (in the decision, the
	// repair, the replacements) and the victims the fit kept, in the
	// order they were applied.
	Verdicts []Verdict
	// SafetyMode is true when metrics are missing, stale or nonsense.
	SafetyMode    bool
	SafetyReasons []string
	// Blind is set when the fleet or the nodes could not be listed, or
	// the limits are invalid: the plan then holds everything.
	Blind string
	// Alerts are notifications the plan raises by itself: those of the
	// verdicts (repair held in an outage, pending pods a launch did not
	// help, a floor that cannot be met), an operation dropped, a pod no
	// node helps.
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
	// RecentLaunches is the state's list of recent launches after this
	// tick's observation: those not listed yet, within launchVisibility.
	RecentLaunches []RecentLaunch
	// Unplaceable are the pending pods no new node would help (from the
	// scheduler's view): left out of every scale-up; UnplaceableKeys the
	// state's list of those alerted.
	Unplaceable     []capacity.PendingPod
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
	live        []Instance          // every active instance of the fleet
	capacity    []Instance          // ready + booting, interrupted ones excluded
	ready       []candidate         // instances whose node is Ready
	cordoned    int                 // of ready, those whose node is cordoned: not capacity for MinNodes
	booting     int                 // capacity not (yet) Ready
	ghosts      []Instance          // never joined within JoinTimeout
	unhealthy   []candidate         // node NotReady for longer than NotReadyTimeout
	notReady    int                 // joined instances whose node is NotReady, any age
	keptDown    int                 // of notReady, those kept (Node.keep, or data pinned to their host names): never repaired
	orphans     []Node              // this cluster's NotReady nodes without an instance (orphans)
	interrupted []Instance          // spot instances with an interruption notice
	unlisted    int                 // recent launches List does not show yet (in live and capacity)
	nodeOf      map[string]Node     // by instance id
	zoneOf      map[string]string   // zone by instance id
	zonesDown   []string            // zones whose workers (two, or one with a node) are all NotReady or never joined, or coming back from it
	pinned      map[string][]string // by instance id, of ghosts and NotReady instances: the node-local data pinned to its host names (pinnedData)
	deadKept    map[string]bool     // broken instances kept for their data long dead (isDeadKept): in no outage share
}

// keptDeadAfter bounds how long a worker kept for its data (Node.keep,
// or data pinned to its host name) may be broken and still count as
// part of an outage; see isDeadKept.
const keptDeadAfter = time.Hour

// isDeadKept reports whether a broken instance is one kept for its data
// whose machine died long ago: kept (its node's Node.keep, its data or an
// operator's scale-down-disabled, or data pinned to its host name) and
// NotReady for at least keptDeadAfter (or NotReadyTimeout, when that is
// longer); for a ghost, whose Node is gone
// and with it when it went down, launched at least that long ago. Such a
// worker is never repaired and may stay broken for ever, so it says
// nothing about an outage now: it counts neither in the fleet's outage
// share (numerator nor denominator) nor in its zone's outage, and is
// alerted on its own (keepRepair). Workers kept that went NotReady
// recently count as any other: an outage is workers going NotReady
// together now.
func isDeadKept(lim Limits, now time.Time, in Instance, node Node, joined bool, pinned []string) bool {
	if node.keep() == "" && len(pinned) == 0 {
		return false
	}
	since := in.LaunchTime
	if joined {
		since = node.ReadyTransition
	}
	return now.Sub(since) >= max(keptDeadAfter, lim.NotReadyTimeout)
}

// downZones returns, in order, the zones of live whose instances are all
// broken: their node NotReady, or never joined within JoinTimeout. One
// zone's network failing looks like that; so does a zone's only worker
// going NotReady, which cannot be told from its zone's outage: it is held
// too, until a worker of that zone is Ready (one launched since, say) and
// shows the zone works. (A zone's only instance that never joined is no
// outage: it has no pods or data to come back with.) A zone stays down
// while it comes back: a worker whose node existed when the zone's
// first broken node went NotReady, and became Ready after that less than
// NotReadyTimeout ago, counts with the broken ones (its peers are coming
// back too, as the fleet-wide outage holds until every node is Ready).
// An instance still booting (not joined, younger than JoinTimeout) counts
// for nothing: it has not shown that its zone works, and the floor's
// replacements for a zone's NotReady workers go to that very zone.
func downZones(now time.Time, lim Limits, live []Instance, nodeOf map[string]Node, broken map[string]bool) []string {
	all, down, back := map[string]int{}, map[string]int{}, map[string]int{}
	firstDown := map[string]time.Time{}
	for _, in := range live {
		if in.Zone == "" || !broken[in.ID] {
			continue
		}
		if node, ok := nodeOf[in.ID]; ok {
			if t, seen := firstDown[in.Zone]; !seen || node.ReadyTransition.Before(t) {
				firstDown[in.Zone] = node.ReadyTransition
			}
		}
	}
	for _, in := range live {
		node, joined := nodeOf[in.ID]
		if in.Zone == "" || (!joined && !broken[in.ID]) {
			// Still booting: it shows nothing of its zone yet.
			continue
		}
		all[in.Zone]++
		first, seen := firstDown[in.Zone]
		switch {
		case broken[in.ID]:
			down[in.Zone]++
		case joined && node.Ready && seen && node.ReadyTransition.After(first) && !node.Created.After(first) &&
			now.Sub(node.ReadyTransition) < lim.NotReadyTimeout:
			back[in.Zone]++
		}
	}
	var out []string
	for _, z := range sortedKeys(all) {
		_, joined := firstDown[z] // a broken instance of the zone has a node
		if down[z] > 0 && down[z]+back[z] == all[z] && (all[z] >= 2 || joined) {
			out = append(out, z)
		}
	}
	return out
}

// markKept records, for a broken instance, the node-local data pinned to
// its host names (pinnedData) and whether it is kept for its data long
// dead (isDeadKept).
func (v *fleetView) markKept(lim Limits, now time.Time, pinned map[string][]string, in Instance, node Node, joined bool) {
	var np *Node
	if joined {
		np = &node
	}
	if d := pinnedData(in, np, pinned); len(d) > 0 {
		v.pinned[in.ID] = d
	}
	v.deadKept[in.ID] = isDeadKept(lim, now, in, node, joined, v.pinned[in.ID])
}

func classify(lim Limits, now time.Time, obs *Observation, interrupted map[string]bool) fleetView {
	instances, nodes := obs.Instances, obs.Nodes
	v := fleetView{pinned: map[string][]string{}, deadKept: map[string]bool{}}
	for _, in := range instances {
		if in.State.Active() {
			v.live = append(v.live, in)
		}
	}
	var unmatched []Node
	v.nodeOf, unmatched = MatchNodes(v.live, nodes)
	v.orphans = orphans(lim.ClusterID, foldStale(v.nodeOf, unmatched))
	broken := map[string]bool{}
	v.zoneOf = make(map[string]string, len(v.live))
	for _, in := range v.live {
		node, joined := v.nodeOf[in.ID]
		age := now.Sub(in.LaunchTime)
		v.zoneOf[in.ID] = in.Zone
		broken[in.ID] = (joined && !node.Ready) || (!joined && age >= lim.JoinTimeout)
		if broken[in.ID] {
			v.markKept(lim, now, obs.Pinned, in, node, joined)
		}
		if joined && !node.Ready {
			v.notReady++
			if node.keep() != "" || len(v.pinned[in.ID]) > 0 {
				v.keptDown++
			}
		}
		switch {
		case interrupted[in.ID]:
			v.interrupted = append(v.interrupted, in)
		case joined && node.Ready:
			if d := pinnedElsewhere(in, node, obs.Pinned); len(d) > 0 {
				// Kept from scale-down (Node.keep) like its own data.
				node.LocalData = append(slices.Clip(node.LocalData), d...)
				v.nodeOf[in.ID] = node
			}
			v.capacity = append(v.capacity, in)
			v.ready = append(v.ready, candidate{Instance: in, Node: node})
			if node.Unschedulable {
				v.cordoned++
			}
		case joined && age >= lim.JoinTimeout && now.Sub(node.ReadyTransition) >= lim.NotReadyTimeout:
			v.unhealthy = append(v.unhealthy, candidate{Instance: in, Node: node})
		case !joined && age >= lim.JoinTimeout:
			v.ghosts = append(v.ghosts, in)
		default:
			v.capacity = append(v.capacity, in)
			v.booting++
		}
	}
	var judged []Instance // the outage's judges: the dead kept for their data are not
	for _, in := range v.live {
		if !v.deadKept[in.ID] {
			judged = append(judged, in)
		}
	}
	v.zonesDown = downZones(now, lim, judged, v.nodeOf, broken)
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

// expireInterruptions splits the interruptions into those to keep and the
// stored ones that expired (their instance still runs interruptionExpiry
// after the notice). One the provider still reports past its expiry is
// dropped too, and not reported again. A warning without a notice time
// counts from now.
func expireInterruptions(all []Interruption, obs *Observation) (keep, expired []Interruption) {
	stored := make(map[string]bool, len(obs.State.Interruptions))
	for _, it := range obs.State.Interruptions {
		stored[it.InstanceID] = true
	}
	for _, it := range all {
		if it.Notice.IsZero() {
			it.Notice = obs.Now
		}
		if obs.Now.Sub(it.Notice) < interruptionExpiry {
			keep = append(keep, it)
			continue
		}
		if stored[it.InstanceID] {
			expired = append(expired, it)
		}
	}
	return keep, expired
}

// launchVisibility is how long a launched instance that the FleetProvider
// does not list yet still counts as booting.
const launchVisibility = 5 * time.Minute

// PlanTick turns one tick's observation into a plan. It is a pure function
// of lim and obs (policy.Decide is called, nothing else): no I/O, no
// clock. It reads as its phases:
//
//   - classify: the fleet (Ready, booting, ghosts, NotReady, orphans,
//     interrupted), safety mode, an outage;
//   - recover: finish or roll back an earlier tick's operation;
//   - repair: propose terminating ghosts and long-NotReady instances and
//     deleting orphaned Nodes;
//   - replace: propose replacing interrupted spot instances, and
//     cordoning and draining their nodes;
//   - decide: the policy's decision;
//   - constrain: everything proposed passes through the one ordered list
//     of guardrails (guardrailNames), which returns what is left and a
//     Verdict for each change;
//
// then what is left becomes steps (a scale-down's victims chosen by what
// fits elsewhere) and the verdicts' alerts become the plan's. Invalid
// limits (Limits.Validate) hold everything.
func PlanTick(policy Policy, lim Limits, obs Observation) Plan {
	if err := lim.Validate(); err != nil {
		return blindPlan(Plan{Blind: "nothing is planned: " + err.Error()}, obs)
	}
	p := Plan{}
	p.SafetyMode, p.SafetyReasons = safetyOf(lim, obs)
	switch {
	case obs.InstancesErr != nil:
		p.Blind = "could not list the fleet: " + obs.InstancesErr.Error()
		return blindPlan(p, obs)
	case obs.NodesErr != nil:
		p.Blind = "could not list the nodes: " + obs.NodesErr.Error()
		return blindPlan(p, obs)
	}
	s := classifyPhase(lim, &obs, &p)
	p.Steps = recoverPhase(s, &p)
	pr := proposal{repair: repairPhase(s), replace: replacePhase(s, &p), evacuate: evacuatePhase(s)}
	pr.decision = decidePhase(s, policy, &p)
	pr, p.Verdicts = constrain(s, pr)
	p.Decision = pr.decision
	p.Steps = append(p.Steps, stepsOf(s, pr, &p)...)
	for _, v := range p.Verdicts {
		if v.Alert != "" {
			p.Alerts = append(p.Alerts, Event{Kind: v.Alert, Message: v.Message})
		}
	}
	return p
}

// blindPlan holds everything: without the fleet or the nodes nothing can
// be classified (every instance would look like a ghost). What the state
// remembers is kept.
func blindPlan(p Plan, obs Observation) Plan {
	p.Interruptions = slices.Clone(obs.State.Interruptions)
	p.Interruptions = append(p.Interruptions, obs.Interruptions...)
	p.UnplaceableKeys, p.RecentLaunches, p.OutageSince = obs.State.Unplaceable, obs.State.Launched, obs.State.OutageSince
	p.Proposed = HoldBecause("%s", p.Blind)
	p.Decision = p.Proposed
	return p
}

// safetyOf says whether the metrics put the tick in safety mode, and why.
func safetyOf(lim Limits, obs Observation) (bool, []string) {
	problems := obs.Snapshot.Problems(obs.Now, lim.MaxMetricAge)
	if obs.MetricsErr != nil {
		problems = []string{"metric source failed: " + obs.MetricsErr.Error()}
	}
	return len(problems) > 0, problems
}

// situation is what the phases and the guardrails look at: the
// observation classified. Nothing writes it after classifyPhase.
type situation struct {
	lim Limits
	obs *Observation
	v   fleetView
	// safety says why the tick is in safety mode; empty when it is not.
	safety []string
	// partialCPU, when set, says that the CPU average leaves out nodes
	// too new to be scraped yet: no safety mode, but no scale-down.
	partialCPU string
	// mass is true when many nodes are NotReady at once now;
	// outageSince when an outage began (zero: none).
	mass        bool
	outageSince time.Time
	// expired are the stored interruptions of instances still running
	// interruptionExpiry after their notice.
	expired []Interruption
}

// classifyPhase classifies the fleet and sets what the plan reports of it.
func classifyPhase(lim Limits, obs *Observation, p *Plan) *situation {
	var live []Instance
	for _, in := range obs.Instances {
		if in.State.Active() {
			live = append(live, in)
		}
	}
	var expired []Interruption
	p.Interruptions, expired = expireInterruptions(mergeInterruptions(obs.State.Interruptions, obs.Interruptions, live), obs)
	interrupted := make(map[string]bool, len(p.Interruptions))
	for _, it := range p.Interruptions {
		interrupted[it.InstanceID] = true
	}
	p.Alerts = pastTimes(obs)
	s := &situation{lim: lim, obs: obs, v: classify(lim, obs.Now, obs, interrupted)}
	p.RecentLaunches = s.v.addUnlisted(obs)
	s.markMisjudged()
	var alerts []Event
	p.Unplaceable, p.UnplaceableKeys, alerts = unplaceable(obs)
	p.Alerts = append(p.Alerts, alerts...)
	s.expired = expired
	for _, it := range expired {
		p.Alerts = append(p.Alerts, Event{Kind: EventInterrupted, Instances: []string{it.InstanceID}, Message: fmt.Sprintf(
			"spot instance %s was warned at %s but still runs %s later: it counts as capacity again and its node is given back",
			it.InstanceID, it.Notice.UTC().Format(time.RFC3339), interruptionExpiry)})
	}
	v := &s.v
	p.ReadyNodes, p.Booting, p.Instances = len(v.ready), v.booting, len(v.capacity)
	if c, snap := obs.Snapshot.CPUNodes, obs.Snapshot; c.OK && snap.CPU.OK && int(c.Value) < len(v.ready) {
		if int(c.Value) < v.settled(obs.Now, lim.NewNodeGrace) {
			p.SafetyMode = true
			p.SafetyReasons = append(p.SafetyReasons, fmt.Sprintf("cpu averages %d node(s) of %d Ready: node_exporter is down on the others", int(c.Value), len(v.ready)))
		} else {
			// Only nodes Ready for less than the grace are missing:
			// no alert (Prometheus has not scraped them twice yet),
			// but no scale-down on an average that leaves them out.
			s.partialCPU = fmt.Sprintf("cpu averages %d node(s) of %d Ready (the others became Ready less than %s ago)", int(c.Value), len(v.ready), lim.NewNodeGrace)
		}
	}
	s.safety = p.SafetyReasons
	// An outage: many nodes NotReady at once. Repair holds from then
	// until every node the fleet runs is Ready again, also when some of
	// the outage's instances went away meanwhile; a node kept for its
	// data or by an operator (Node.keep, data pinned to its host name) is
	// not waited for: it is never repaired, and a dead one would hold
	// every later repair for ever. Nor does one long dead (isDeadKept)
	// count in the share: alone, such workers would reach it.
	broken, of := s.share()
	s.mass = broken > 1 && float64(broken) >= lim.MassNotReadyShare*float64(of)
	s.outageSince = obs.State.OutageSince
	switch {
	case s.mass && s.outageSince.IsZero():
		s.outageSince = obs.Now
	case !s.mass && v.notReady == v.keptDown:
		s.outageSince = time.Time{}
	}
	p.OutageSince = s.outageSince
	return s
}

// The state's list of unplaceable pods alerted (ClusterState.Unplaceable)
// is bounded whatever the number of such pods: at most
// maxUnplaceableKeys keys, each cut to maxUnplaceableKeyBytes, and beyond
// that one summary entry "+N" (N more pods alerted, not named).
const (
	maxUnplaceableKeys     = 100
	maxUnplaceableKeyBytes = 256
	// alertNames is how many pods or messages an aggregated alert names.
	alertNames = 3
)

// unplaceableKey is a pod's key as the state stores it (cut to
// maxUnplaceableKeyBytes).
func unplaceableKey(k string) string {
	if len(k) > maxUnplaceableKeyBytes {
		return k[:maxUnplaceableKeyBytes]
	}
	return k
}

// unplaceable returns the pending pods the scheduler's view says no new
// node helps, the state's list of those alerted (bounded, see
// maxUnplaceableKeys), and at most one alert for all of them: raised when
// some are new, that is more are unknown than the stored list summarised
// without naming them. Without the view nothing is known: the list is
// kept.
func unplaceable(obs *Observation) ([]capacity.PendingPod, []string, []Event) {
	sv := obs.Snapshot.Scheduler
	if sv == nil {
		return nil, obs.State.Unplaceable, nil
	}
	alerted := make(map[string]bool, len(obs.State.Unplaceable))
	summarised := 0 // pods alerted whose keys the store did not keep
	for _, k := range obs.State.Unplaceable {
		if n, ok := parseUnplaceableSummary(k); ok {
			summarised += n
			continue
		}
		alerted[k] = true
	}
	pods := sv.Unplaceable()
	var keys []string
	var fresh []capacity.PendingPod
	for _, pod := range pods {
		k := unplaceableKey(pod.Key())
		keys = append(keys, k)
		if !alerted[k] {
			fresh = append(fresh, pod)
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if n := len(keys); n > maxUnplaceableKeys {
		// The kept keys and the summary together are maxUnplaceableKeys
		// entries, within what the state store keeps.
		keys = append(keys[:maxUnplaceableKeys-1:maxUnplaceableKeys-1], UnplaceableSummary(n-(maxUnplaceableKeys-1)))
	}
	if len(fresh) == 0 || len(fresh) <= summarised {
		return pods, keys, nil
	}
	if len(pods) == 1 {
		pod := pods[0]
		return pods, keys, []Event{{Kind: EventUnplaceable,
			Message: fmt.Sprintf("pod %s will not get a node: %s; no node is launched for it", pod.Key(), pod.Unplaceable)}}
	}
	var named []string
	for _, pod := range fresh[:min(alertNames, len(fresh))] {
		named = append(named, fmt.Sprintf("%s (%s)", pod.Key(), pod.Unplaceable))
	}
	msg := fmt.Sprintf("%d pending pods fit no worker, no node is launched for them (%d not alerted before): %s", len(pods), len(fresh)-summarised, strings.Join(named, ", "))
	if more := len(fresh) - len(named); more > 0 {
		msg += fmt.Sprintf(" … and %d more", more)
	}
	return pods, keys, []Event{{Kind: EventUnplaceable, Message: msg}}
}

// misjudgedAfter is how long a new worker must have been Ready, with room
// for a pod pending since before it was launched, before the pod counts
// as one the scheduler's view misjudges: kube-scheduler binds within
// seconds once a fitting node is Ready.
const misjudgedAfter = time.Minute

// markMisjudged marks Unplaceable, in the planner's copy of the snapshot,
// each placeable pending pod of the scheduler's view that a worker
// launched since the pod became pending (PendingPod.PendingSince), Ready
// for misjudgedAfter, schedulable and with room for its requests did not
// get: kube-scheduler rejects it where the view expected a fit (affinity,
// spread, volumes, taints), and launching again would not help. Without
// the pod's pending time or the nodes' allocatable nothing is marked.
func (s *situation) markMisjudged() {
	sv, now := s.obs.Snapshot.Scheduler, s.obs.Now
	if sv == nil {
		return
	}
	marks := map[string]string{}
	for _, p := range sv.Placeable() {
		if p.PendingSince.IsZero() {
			continue
		}
		for _, c := range s.v.ready {
			n := c.Node
			if n.Unschedulable || n.Allocatable.IsZero() || !c.Instance.LaunchTime.After(p.PendingSince) ||
				now.Sub(n.ReadyTransition) < misjudgedAfter || !p.Requests.Fits(n.Allocatable.Sub(n.Requested)) {
				continue
			}
			marks[p.Key()] = fmt.Sprintf("pending since %s although worker %s, launched since and Ready since %s, has room for it: kube-scheduler rejects it where the view expected a fit (check its affinity, topology spread, volumes and tolerations)",
				p.PendingSince.UTC().Format(time.RFC3339), n.Name, n.ReadyTransition.UTC().Format(time.RFC3339))
			break
		}
	}
	if len(marks) == 0 {
		return
	}
	s.obs.Snapshot.Scheduler = sv.Marked(marks)
	if _, ok := s.obs.Snapshot.Custom[MetricDemand]; ok {
		s.obs.Snapshot = s.obs.Snapshot.WithDemand()
	}
}

// pastTimes takes every time of obs.State that lies after obs.Now (a
// replica with a fast clock, a hand-edited item) as long ago: the last
// scale-up and scale-down become zero (no cooldown runs from them) and such
// a recent launch is dropped (it would count as booting for ever); one
// alert names them. Only the planner's copy of the state changes.
func pastTimes(obs *Observation) []Event {
	st, now := &obs.State, obs.Now
	var bad []string
	future := func(name string, t time.Time) bool {
		if !t.After(now) {
			return false
		}
		bad = append(bad, fmt.Sprintf("%s %s", name, t.UTC().Format(time.RFC3339)))
		return true
	}
	if future("the last scale-up", st.LastScaleUp) {
		st.LastScaleUp = time.Time{}
	}
	if future("the last scale-down", st.LastScaleDown) {
		st.LastScaleDown = time.Time{}
	}
	if slices.ContainsFunc(st.Launched, func(l RecentLaunch) bool { return l.At.After(now) }) {
		var kept []RecentLaunch
		for _, l := range st.Launched {
			if !future("the launch of "+l.InstanceID, l.At) {
				kept = append(kept, l)
			}
		}
		st.Launched = kept
	}
	if len(bad) == 0 {
		return nil
	}
	return []Event{{Kind: EventClockSkew, Message: fmt.Sprintf("the stored state has times after now (%s): %s; taken as long ago (a replica's clock or a hand edit?)",
		now.UTC().Format(time.RFC3339), strings.Join(bad, ", "))}}
}

// UnplaceableSummary is the entry that a StateStore which keeps only
// some of ClusterState.Unplaceable's keys saves in place of the other
// more: the planner counts that many of the pods it finds unplaceable and
// not listed as alerted already. It is no pod's key (a key has no space).
func UnplaceableSummary(more int) string { return fmt.Sprintf("… and %d more", more) }

// parseUnplaceableSummary returns the count of an UnplaceableSummary.
func parseUnplaceableSummary(k string) (int, bool) {
	var n int
	if _, err := fmt.Sscanf(k, "… and %d more", &n); err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// addUnlisted counts as booting the instances launched lately that List
// does not show yet (EC2 is eventually consistent), and returns them.
func (v *fleetView) addUnlisted(obs *Observation) []RecentLaunch {
	listed := make(map[string]bool, len(obs.Instances))
	for _, in := range obs.Instances {
		listed[in.ID] = true
	}
	var out []RecentLaunch
	for _, l := range obs.State.Launched {
		if listed[l.InstanceID] || obs.Now.Sub(l.At) >= launchVisibility {
			continue
		}
		out = append(out, l)
		in := Instance{ID: l.InstanceID, State: StatePending, LaunchTime: l.At}
		v.booting++
		v.capacity = append(v.capacity, in)
		v.live = append(v.live, in)
		v.unlisted++
	}
	// A node naming one of them is that instance's, not an orphan: it
	// joined before List shows its instance.
	v.orphans = slices.DeleteFunc(v.orphans, func(n Node) bool {
		named := instanceIDFromProviderID(n.ProviderID)
		if named == "" {
			named = n.InstanceID
		}
		return named != "" && slices.ContainsFunc(out, func(l RecentLaunch) bool { return l.InstanceID == named })
	})
	return out
}

// settled is the number of Ready nodes Ready for grace or longer (or
// since an unknown time): those the CPU average must include; a newer
// one's node_exporter has not been sampled twice yet.
func (v *fleetView) settled(now time.Time, grace time.Duration) int {
	n := 0
	for _, c := range v.ready {
		if now.Sub(c.Node.ReadyTransition) >= grace {
			n++
		}
	}
	return n
}

// broken is the number of instances that never joined or whose node is
// NotReady.
func (s *situation) broken() int { return len(s.v.ghosts) + s.v.notReady }

// share is the outage share's numerator and denominator: the broken
// instances, and the live ones less those not listed yet, both without
// the workers kept for their data long dead (isDeadKept). Such a worker
// is taken off the broken ones only when it is one of them (a NotReady
// node, or a ghost: an interrupted instance that never joined is
// neither), and off the live ones always.
func (s *situation) share() (broken, of int) {
	broken, of = s.broken(), len(s.v.live)-s.v.unlisted
	for id, dead := range s.v.deadKept {
		if !dead {
			continue
		}
		of--
		_, joined := s.v.nodeOf[id]
		if joined || slices.ContainsFunc(s.v.ghosts, func(g Instance) bool { return g.ID == id }) {
			broken--
		}
	}
	return broken, of
}

// cur is the fleet's size as the guardrails count it: instances Ready or
// booting, interrupted ones and cordoned ones excluded (a cordoned node
// takes no pods), plus the replacements proposed that fit under MaxNodes.
func (s *situation) cur(pr proposal) int { return s.serving() + s.replaceable(pr) }

// replaceable is how many of the proposal's replacements fit under
// MaxNodes, counted without the interrupted instances and with the room
// the proposal's repair makes: what the ceiling lets through. The rails
// before the ceiling count these, not every replacement proposed.
func (s *situation) replaceable(pr proposal) int {
	return min(len(pr.replace), max(0, s.lim.MaxNodes-s.occupied(proposal{repair: pr.repair})))
}

// serving is the number of instances Ready and schedulable, or booting.
func (s *situation) serving() int { return len(s.v.capacity) - s.v.cordoned }

// occupied is what MaxNodes bounds: every active instance (ghosts and
// NotReady ones awaiting repair included, interrupted ones not) less those
// the proposal's repair terminates, plus the replacements it launches. A
// launch never takes it past MaxNodes, also while repair is held.
func (s *situation) occupied(pr proposal) int {
	return len(s.v.live) - len(s.v.interrupted) - pr.terminating() + len(pr.replace)
}

// recoverPhase plans the steps that finish or roll back the operation an
// earlier tick left behind; while there is one, no launch or scale-down
// starts (the operation guardrail). Recovery itself is not held: it
// finishes what was started.
func recoverPhase(s *situation, p *Plan) []Step {
	op := s.obs.State.Operation
	if op == nil {
		return nil
	}
	lim, now := s.lim, s.obs.Now
	age := now.Sub(op.Started)
	if op.Kind == OpScaleDown && op.Phase == PhaseUncordoning {
		return []Step{{Kind: StepRecoverUncordon, Operation: op, InstanceID: op.InstanceID, NodeName: op.NodeName,
			Reason: Reason{Code: ReasonRecovery, Text: fmt.Sprintf("scale-down %s was dropped: giving node %s back", op.ID, op.NodeName)}}}
	}
	if op.Attempts >= lim.MaxRecoveryAttempts {
		msg := fmt.Sprintf("dropped operation %s (%s) after %d attempts to finish it, %s old; check the provider and the node", op.ID, op.Kind, op.Attempts, age.Round(time.Second))
		if op.Kind == OpScaleDown {
			msg += "; node " + op.NodeName + " is given back (uncordoned; until that works, no scale-down starts)"
		}
		p.Alerts = append(p.Alerts, Event{Kind: EventFailure, Message: msg})
		return []Step{{Kind: StepDropOperation, Operation: op, InstanceID: op.InstanceID, NodeName: op.NodeName, Reason: Reason{Code: ReasonRecovery, Text: msg}}}
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
		want := min(op.Count, found+max(0, lim.MaxNodes-s.occupied(proposal{})))
		return []Step{{Kind: StepRecoverLaunch, Operation: op, Count: want, Fit: op.Fit, Zones: op.Zones, ZoneCounts: s.v.launchCounts(),
			Reason: r(fmt.Sprintf("launch %s: found %d of %d instances", op.ID, found, op.Count))}}
	case OpScaleDown:
		if why := s.keepOf(op.InstanceID); op.Phase == PhaseTerminating && why != "" {
			// Drained, but a pod that tolerates the cordon brought data
			// since: the node is given back rather than removed.
			msg := fmt.Sprintf("scale-down %s: instance %s is not terminated after its drain: %s; its node %s is given back",
				op.ID, op.InstanceID, why, op.NodeName)
			p.Alerts = append(p.Alerts, Event{Kind: EventAbandoned, Instances: []string{op.InstanceID}, Message: msg})
			return []Step{{Kind: StepRecoverUncordon, Operation: op, InstanceID: op.InstanceID, NodeName: op.NodeName, Reason: r(msg)}}
		}
		if op.Phase == PhaseTerminating {
			return []Step{{Kind: StepRecoverTerminate, Operation: op, InstanceID: op.InstanceID, NodeName: op.NodeName,
				Reason: r(fmt.Sprintf("scale-down %s: node %s was drained, finishing its removal", op.ID, op.NodeName))}}
		}
		return []Step{{Kind: StepRecoverUncordon, Operation: op, InstanceID: op.InstanceID, NodeName: op.NodeName,
			Reason: r(fmt.Sprintf("scale-down %s: drain of %s was interrupted, giving the node back", op.ID, op.NodeName))}}
	}
	return []Step{{Kind: StepDropOperation, Operation: op, Reason: r(fmt.Sprintf("dropped unknown operation %q of kind %q", op.ID, op.Kind))}}
}

// keepOf returns why the live instance id must not be terminated, or "":
// its node must be kept (Node.keep), or node-local data is pinned to one
// of its host names (pinnedData).
func (s *situation) keepOf(id string) string {
	node, joined := s.v.nodeOf[id]
	if why := node.keep(); joined && why != "" {
		return why
	}
	i := slices.IndexFunc(s.v.live, func(in Instance) bool { return in.ID == id })
	if i < 0 {
		return ""
	}
	var np *Node
	if joined {
		np = &node
	}
	if d := pinnedData(s.v.live[i], np, s.obs.Pinned); len(d) > 0 {
		return "it holds node-local data pinned to its host name (" + strings.Join(d, ", ") + ")"
	}
	return ""
}

// repairPhase proposes terminating every ghost and every instance whose
// node stayed NotReady, and deleting every orphaned Node; the repair
// guardrail bounds it.
func repairPhase(s *situation) []Step {
	var steps []Step
	for _, g := range s.v.ghosts {
		steps = append(steps, Step{Kind: StepTerminateGhost, InstanceID: g.ID, Reason: Reason{Code: ReasonGhost,
			Text: fmt.Sprintf("instance %s did not join within %s", g.ID, s.lim.JoinTimeout)}})
	}
	for _, u := range s.v.unhealthy {
		steps = append(steps, Step{Kind: StepTerminateNotReady, InstanceID: u.Instance.ID, NodeName: u.Node.Name,
			Reason: Reason{Code: ReasonNotReady, Text: fmt.Sprintf("node %s NotReady for over %s", u.Node.Name, s.lim.NotReadyTimeout)}})
	}
	for _, n := range s.v.orphans {
		steps = append(steps, Step{Kind: StepDeleteOrphan, NodeName: n.Name, Reason: Reason{Code: ReasonOrphan,
			Text: fmt.Sprintf("node %s is NotReady and no instance of the fleet runs it", n.Name)}})
	}
	return steps
}

// replacePhase proposes replacing the interrupted spot instances not
// replaced yet (they are never capacity).
func replacePhase(_ *situation, p *Plan) []string {
	var ids []string
	for _, it := range p.Interruptions {
		if it.ReplacedBy == "" {
			ids = append(ids, it.InstanceID)
		}
	}
	return ids
}

// evacuatePhase proposes cordoning the nodes of interrupted spot
// instances, so that nothing new lands on them, and draining them (again
// while pods are left) within what is left of their notice.
func evacuatePhase(s *situation) []Step {
	var steps []Step
	for _, it := range s.expired {
		if node, ok := s.v.nodeOf[it.InstanceID]; ok && node.Unschedulable {
			steps = append(steps, Step{Kind: StepUncordonExpired, InstanceID: it.InstanceID, NodeName: node.Name, Reason: Reason{Code: ReasonInterruption,
				Text: fmt.Sprintf("spot instance %s was warned at %s and not reclaimed within %s", it.InstanceID, it.Notice.UTC().Format(time.RFC3339), interruptionExpiry)}})
		}
	}
	for _, in := range s.v.interrupted {
		node, ok := s.v.nodeOf[in.ID]
		if !ok {
			continue
		}
		r := Reason{Code: ReasonInterruption, Text: "spot instance " + in.ID + " will be reclaimed"}
		if !node.Unschedulable {
			steps = append(steps, Step{Kind: StepCordonInterrupted, InstanceID: in.ID, NodeName: node.Name, Reason: r})
		}
		if node.Pods > 0 || !node.Unschedulable {
			steps = append(steps, Step{Kind: StepDrainInterrupted, InstanceID: in.ID, NodeName: node.Name, Reason: r})
		}
	}
	return steps
}

// decidePhase asks the policy. Anything but a scale-up or scale-down with
// a positive count is a hold; a policy cannot force (LevelFloor and
// LevelCeiling are the guardrails' own).
func decidePhase(s *situation, policy Policy, p *Plan) Decision {
	obs, v := s.obs, &s.v
	in := PolicyInput{
		Now: obs.Now, Snapshot: obs.Snapshot, ReadyNodes: len(v.ready), Booting: v.booting,
		MinNodes: s.lim.MinNodes, MaxNodes: s.lim.MaxNodes, History: obs.State.History, LongHistory: obs.State.LongHistory,
		LastScaleUp: obs.State.LastScaleUp, LastScaleDown: obs.State.LastScaleDown, SafetyMode: len(s.safety) > 0,
	}
	for _, e := range obs.State.Calendar {
		if e.End.After(obs.Now) {
			in.Calendar = append(in.Calendar, e)
		}
	}
	p.Proposed = policy.Decide(in)
	d := p.Proposed
	if d.forced() {
		d.Level = LevelNone
	}
	switch {
	case d.Action != ScaleUp && d.Action != ScaleDown:
		return Decision{Action: Hold, Reason: d.Reason, Level: d.Level}
	case d.Count <= 0:
		return HoldBecause("policy asked for %s with count %d", d.Action, d.Count)
	}
	return d
}

// stepsOf turns what the guardrails left into steps, after the recovery:
// the repair; one launch for the replacements and the scale-up; the
// interrupted nodes cordoned and drained after it (booting takes longer
// than draining); then the scale-down, node by node, of victims whose
// pods fit elsewhere.
func stepsOf(s *situation, pr proposal, p *Plan) []Step {
	steps := slices.Clone(pr.repair)
	if l, ok := s.launch(pr); ok {
		steps = append(steps, l)
	}
	steps = append(steps, pr.evacuate...)
	if pr.decision.Action != ScaleDown {
		return steps
	}
	d := pr.decision
	if err := s.obs.PinnedErr; err != nil {
		// A volume pinned to a former host name of any worker is not known.
		held := HoldBecause("no node is removed: the node-local data pinned to node names could not be listed (%v) (%s)", err, d.Reason)
		p.Verdicts = append(p.Verdicts, Verdict{Guardrail: "keep", Code: HoldKeep, Message: held.Reason, Before: d, After: held})
		p.Decision = held
		return steps
	}
	keptV := kept(s.v.ready)
	p.Verdicts = append(p.Verdicts, keptV...)
	// Every Ready worker is given, the kept ones too: they are workers of
	// their zone, which the victims' order keeps balanced.
	victims, why := chooseVictims(s.v.ready, len(s.v.ready))
	victims, why, verdicts := s.fitting(victims, why, d.Count)
	p.Verdicts = append(p.Verdicts, verdicts...)
	if len(victims) == 0 {
		why := "the pods of none fit on the other nodes"
		if len(keptV) > 0 {
			why = "each is kept (node-local data, scale-down-disabled) or has pods that fit on no other node"
		}
		held := HoldBecause("no node can be removed: %s (%s)", why, d.Reason)
		p.Verdicts = append(p.Verdicts, Verdict{Guardrail: "fit", Code: HoldNoRoom, Message: held.Reason, Before: d, After: held})
		p.Decision = held
	}
	code := ReasonPolicy
	if d.Level == LevelCeiling {
		code = ReasonCeiling
	}
	for i, c := range victims {
		steps = append(steps, Step{Kind: StepScaleDown, InstanceID: c.Instance.ID, NodeName: c.Node.Name,
			Reason: Reason{Code: code, Text: d.Reason + "; " + why[i]}})
	}
	return steps
}

// kept returns a verdict for each candidate a scale-down must not take
// (Node.keep); chooseVictims leaves them out.
func kept(ready []candidate) []Verdict {
	var verdicts []Verdict
	for _, c := range ready {
		if why := c.Node.keep(); why != "" {
			verdicts = append(verdicts, Verdict{Guardrail: "keep", Code: HoldKeep, Message: fmt.Sprintf("node %s stays: %s", c.Node.Name, why)})
		}
	}
	return verdicts
}

// launch is the one launch step for the proposal's replacements and
// scale-up, if there is anything to launch.
func (s *situation) launch(pr proposal) (Step, bool) {
	d := pr.decision
	up := 0
	if d.Action == ScaleUp {
		up = d.Count
	}
	n := len(pr.replace)
	total := n + up
	if total == 0 {
		return Step{}, false
	}
	reason := Reason{Code: ReasonPolicy, Text: d.Reason}
	switch {
	case up == 0:
		reason = Reason{Code: ReasonInterruption, Text: fmt.Sprintf("replacing %d interrupted spot instance(s)", n)}
	case d.Level == LevelFloor:
		reason.Code = ReasonFloor
	}
	if up > 0 && n > 0 {
		reason.Text += fmt.Sprintf("; and replacing %d interrupted spot instance(s)", n)
	}
	v := &s.v
	onRepair := max(0, min(pr.terminating(), total-(s.lim.MaxNodes-(len(v.live)-len(v.interrupted)))))
	st := Step{Kind: StepLaunch, Count: total, Replacing: pr.replace, Reason: reason, Fit: fitOf(s.obs.Snapshot.Scheduler), OnRepair: onRepair,
		ZoneCounts: v.launchCounts()}
	if up > 0 {
		st.Zones = pendingZones(s.obs.Snapshot.Scheduler)
	}
	return st, true
}

// launchCounts is a launch's ZoneCounts: the capacity per zone, and in a
// zone in its outage (zonesDown) also its broken instances, NotReady or
// never joined, but one: it is expected to get them back. Left out, such
// a zone would count none and the water-filling would send it every
// replacement for them, to join nowhere and pile up as ghosts the outage
// holds; all counted, it would get none, and a zone whose only worker went
// NotReady would never get the worker whose Ready node shows that the
// zone works (and ends the hold on its repair). Counted but one, it gets
// one such worker first.
func (v *fleetView) launchCounts() map[string]int {
	out := zoneCounts(v.capacity)
	if len(v.zonesDown) == 0 {
		return out
	}
	counted := make(map[string]bool, len(v.capacity)+len(v.interrupted))
	for _, in := range slices.Concat(v.capacity, v.interrupted) {
		counted[in.ID] = true
	}
	broken := map[string]int{}
	for _, in := range v.live {
		if !counted[in.ID] && slices.Contains(v.zonesDown, in.Zone) {
			broken[in.Zone]++
		}
	}
	for z, n := range broken {
		if n > 1 {
			if out == nil {
				out = map[string]int{}
			}
			out[z] += n - 1
		}
	}
	return out
}

// zoneCounts counts the instances per zone (those of an unknown zone, such
// as launches not listed yet, are left out); nil when none has a zone.
func zoneCounts(capacity []Instance) map[string]int {
	var out map[string]int
	for _, in := range capacity {
		if in.Zone == "" {
			continue
		}
		if out == nil {
			out = map[string]int{}
		}
		out[in.Zone]++
	}
	return out
}

// pendingZones is where a scale-up for the view's placeable pending pods
// must go: the zones that every placeable pod needing a zone
// (PendingPod.Zones) can run in. Empty, and so anywhere, when no pod needs
// a zone, or when the pods' zones have none in common: a launch then
// spreads over every zone, and a pod whose zone got no worker stays
// pending for the next tick.
func pendingZones(v *capacity.SchedulerView) []string {
	if v == nil {
		return nil
	}
	var common []string
	needed := false
	for _, p := range v.Placeable() {
		if len(p.Zones) == 0 {
			continue
		}
		if !needed {
			needed, common = true, slices.Clone(p.Zones)
			continue
		}
		common = slices.DeleteFunc(common, func(z string) bool { return !slices.Contains(p.Zones, z) })
	}
	if len(common) == 0 {
		return nil
	}
	slices.Sort(common)
	return slices.Compact(common)
}

// fitting keeps, of the victims in their order, up to n whose pods fit on
// the other Ready nodes of the fleet, as cluster-autoscaler simulates a
// removal (capacity.ScaleDownByFit), when the nodes carry their allocatable; the
// others get a verdict saying why they stay. Without allocatable (a
// NodeManager that does not read it) the first n go.
func (s *situation) fitting(victims []candidate, why []string, n int) ([]candidate, []string, []Verdict) {
	known := false
	var fleet []capacity.Node
	for _, c := range s.v.ready {
		fleet = append(fleet, c.Node.Capacity())
		known = known || !c.Node.Allocatable.IsZero()
	}
	if !known {
		return victims[:min(n, len(victims))], why[:min(n, len(why))], nil
	}
	cands := make([]capacity.Node, len(victims))
	for i, c := range victims {
		cands[i] = c.Node.Capacity()
	}
	chosen, verdicts := capacity.ScaleDownByFit(cands, fleet, n)
	var out []Verdict
	for _, vd := range verdicts {
		if !vd.Fits {
			out = append(out, Verdict{Guardrail: "fit", Code: HoldNoRoom,
				Message: fmt.Sprintf("node %s stays: %s", vd.Node, vd.Reason)})
		}
	}
	keep := make(map[string]bool, len(chosen))
	for _, c := range chosen {
		keep[c.Name] = true
	}
	var outV []candidate
	var outW []string
	for i, c := range victims {
		if keep[c.Node.Name] {
			outV, outW = append(outV, c), append(outW, why[i]+"; its pods fit on the other nodes")
		}
	}
	return outV, outW, out
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
func fitOf(v *capacity.SchedulerView) capacity.Resources {
	if v == nil {
		return capacity.Resources{}
	}
	var largest capacity.Resources
	for _, p := range v.Placeable() {
		largest = capacity.Resources{MilliCPU: max(largest.MilliCPU, p.Requests.MilliCPU), Memory: max(largest.Memory, p.Requests.Memory), Pods: max(largest.Pods, p.Requests.Pods)}
	}
	if largest.IsZero() {
		return capacity.Resources{}
	}
	return largest.Add(v.Template.DaemonSet)
}
