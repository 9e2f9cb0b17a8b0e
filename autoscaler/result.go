package autoscaler

import (
	"fmt"
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

// Result says what a tick did and why.
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
	// SafetyMode is true when metrics were missing, stale or nonsense;
	// SafetyReasons says which.
	SafetyMode    bool
	SafetyReasons []string
	// Proposed is the policy's decision; Decision is what remained after
	// the guardrails (its Count is what to launch or remove now).
	Proposed Decision
	Decision Decision
	// Verdicts are the guardrails that changed the decision or held the
	// repair, in order; Hold is the code of the one that held the
	// policy's action, if one did.
	Verdicts []Verdict
	Hold     HoldCode
	// Steps are the plan's steps and what became of each.
	Steps []StepOutcome
	// ReadyNodes, Booting and Instances describe the fleet as observed
	// (Instances = active instances counted as capacity).
	ReadyNodes, Booting, Instances int
	// Recovered describes an earlier tick's operation that this tick
	// finished or rolled back.
	Recovered string
	// Launched are the instances started by this tick's launch;
	// Replacements says how many of them replace interrupted spot
	// instances.
	Launched     []Instance
	Replacements int
	// Victim is the node chosen for a scale-down, and VictimReason why;
	// Terminated lists the instances terminated by the scale-down.
	Victim       string
	VictimReason string
	Terminated   []string
	// Ghosts are instances terminated (the call succeeded) because they
	// never joined;
	// Replaced are instances terminated because their node stayed
	// NotReady; OrphansDeleted are Node objects without an instance.
	Ghosts         []string
	Replaced       []string
	OrphansDeleted []string
	// Unplaceable are the pending pods no new node would help, each with
	// why (from the scheduler's view); they were left out of the count.
	Unplaceable []PendingPod
	// Interruptions are the spot interruptions the state holds after the
	// tick (with the operation that replaced each, if one did).
	Interruptions []Interruption
	// Warnings are the parts' advice about their configuration (see
	// Warner).
	Warnings []string
	// Events are the notifications sent.
	Events []Event
	// Err is the error RunOnce returned with this result: the failed
	// steps' errors joined (a tick can scale up and still fail to
	// terminate a ghost), for publishers that classify failures with
	// errors.Is.
	Err error `json:"-"`
	// Duration is how long the tick took, on the autoscaler's clock.
	Duration time.Duration
}

// String is the result as one log line.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", r.Outcome)
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
	if r.Recovered != "" {
		fmt.Fprintf(&b, " recovered: %s", r.Recovered)
	}
	if len(r.Ghosts) > 0 {
		fmt.Fprintf(&b, " ghosts terminated: %s", strings.Join(r.Ghosts, ","))
	}
	if len(r.Replaced) > 0 {
		fmt.Fprintf(&b, " not-ready replaced: %s", strings.Join(r.Replaced, ","))
	}
	if len(r.OrphansDeleted) > 0 {
		fmt.Fprintf(&b, " orphan nodes deleted: %s", strings.Join(r.OrphansDeleted, ","))
	}
	return b.String()
}
