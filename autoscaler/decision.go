package autoscaler

import (
	"fmt"
	"strings"
	"time"
)

// Action is what a Decision asks for.
type Action string

// The actions a Policy can decide.
const (
	Hold      Action = "hold"
	ScaleUp   Action = "scale_up"
	ScaleDown Action = "scale_down"
)

// Level says how urgent a decision is, after the original design's levels.
type Level string

// Levels used by the built-in policies; policies may use their own.
const (
	LevelNone       Level = ""
	LevelCritical   Level = "CRITICAL"
	LevelHighLoad   Level = "HIGH_LOAD"
	LevelPredictive Level = "PREDICTIVE"
	LevelLowLoad    Level = "LOW_LOAD"
	// LevelFloor and LevelCeiling are the guardrails' own: a decision
	// the floor (MinNodes) or the ceiling (MaxNodes) forced. Cooldowns
	// and the no-progress rule do not hold it. A policy's decision with
	// one of them is read as LevelNone.
	LevelFloor   Level = "FLOOR"
	LevelCeiling Level = "CEILING"
)

// forced reports whether the floor or the ceiling made d.
func (d Decision) forced() bool { return d.Level == LevelFloor || d.Level == LevelCeiling }

// Decision is what a Policy wants done: hold, or scale up or down by Count
// nodes, with a reason a person can read.
type Decision struct {
	Action Action
	// Count is the number of nodes to add or remove; 0 for Hold.
	// For ScaleUp it is counted from Ready capacity: instances still
	// booting are subtracted from it by the autoscaler, so a policy that
	// sees the same pending pods twice does not launch twice.
	Count  int
	Reason string
	Level  Level
	// ForecastMethod, ForecastNodes and ForecastHeadroom are, for a
	// policy that forecasts demand (the predictive policy), the method it
	// picked ("naive", "seasonal naive (day)"), its forecast of the
	// highest demand over its lead time and the headroom it adds above
	// it, in worker units. ForecastMethod is "" when the policy forecast
	// nothing; the other two then mean nothing. ForecastLead is the lead
	// time the forecast is for (0 when the policy does not say). The tick
	// copies them into its Record.
	ForecastMethod   string        `json:",omitempty"`
	ForecastNodes    float64       `json:",omitempty"`
	ForecastHeadroom float64       `json:",omitempty"`
	ForecastLead     time.Duration `json:",omitempty"`
	// Shadow is, in forecast-only mode (decision.Shadow), what the policy
	// run beside the acting one would have decided, counted from the same
	// Ready nodes (decision.Shadow keeps it within MinNodes and
	// MaxNodes); nothing acts on it. nil otherwise. The tick records it
	// (Record.ShadowAction and ShadowCount) and, when the acting decision
	// forecast nothing, its forecast.
	Shadow *Decision `json:",omitempty"`
}

// HoldBecause returns a Hold decision with a reason.
func HoldBecause(format string, args ...any) Decision {
	return Decision{Action: Hold, Reason: fmt.Sprintf(format, args...)}
}

// String prints the decision as "scale_up 2 (CRITICAL): 3 pending pods".
func (d Decision) String() string {
	var b strings.Builder
	b.WriteString(string(d.Action))
	if d.Action != Hold {
		fmt.Fprintf(&b, " %d", d.Count)
	}
	if d.Level != LevelNone {
		fmt.Fprintf(&b, " (%s)", d.Level)
	}
	if d.Reason != "" {
		b.WriteString(": ")
		b.WriteString(d.Reason)
	}
	return b.String()
}

// Delta returns the signed change in nodes: +Count, -Count or 0.
func (d Decision) Delta() int {
	switch d.Action {
	case ScaleUp:
		return d.Count
	case ScaleDown:
		return -d.Count
	}
	return 0
}
