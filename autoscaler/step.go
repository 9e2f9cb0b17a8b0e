package autoscaler

import (
	"fmt"
	"strings"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

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
	// finished in Config.MaxRecoveryAttempts ticks (an alert says so). A
	// scale-down's node is uncordoned first; when that fails the
	// operation stays, in PhaseUncordoning.
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
	// StepUncordonExpired gives back the node of a spot instance whose
	// interruption expired (interruptionExpiry) without it being
	// reclaimed.
	StepUncordonExpired StepKind = "uncordon-expired"
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
	Fit capacity.Resources `json:",omitempty"`
	// Zones, when not empty, are the only zones a launch may use
	// (LaunchRequest.Zones): those every placeable pending pod that needs
	// a zone can run in, when their zones have any in common.
	Zones []string `json:",omitempty"`
	// ZoneCounts are the fleet's workers (Ready and booting; in a zone in
	// its outage also the NotReady ones and ghosts but one, expected
	// back) per zone, for the provider to spread a launch over the zones
	// (LaunchRequest.ZoneCounts).
	ZoneCounts map[string]int `json:",omitempty"`
	// OnRepair is how much of a launch's Count fits under MaxNodes only
	// because the plan's repair terminates instances: the executor takes
	// from it one for each of those terminations that failed.
	OnRepair int `json:",omitempty"`
	// Operation is the earlier operation a recovery step finishes.
	Operation *Operation `json:",omitempty"`
}

// head writes "kind [count] [instance] [node name]", the start of both
// String and brief.
func (s Step) head(b *strings.Builder) {
	b.WriteString(string(s.Kind))
	if s.Count > 0 {
		fmt.Fprintf(b, " %d", s.Count)
	}
	if s.InstanceID != "" {
		b.WriteString(" " + s.InstanceID)
	}
	if s.NodeName != "" {
		b.WriteString(" node " + s.NodeName)
	}
}

// String prints the step as one line.
func (s Step) String() string {
	var b strings.Builder
	s.head(&b)
	if s.Reason.Text != "" {
		b.WriteString(": " + s.Reason.Text)
	}
	return b.String()
}
