package ec2fleet

import (
	"fmt"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/internal/awsutil"
)

// scope says what a capacity error rules out.
type scope int

const (
	scopeNone       scope = iota // not a capacity error
	scopeZoneMarket              // this market in this zone
	scopeZone                    // every market in this zone (the subnet)
	scopeMarket                  // this market in every zone (an account limit)
)

// capacityCodes classifies the EC2 error codes that mean "not here, not
// now": the launch should try another zone or market instead of failing.
var capacityCodes = map[string]scope{
	"InsufficientInstanceCapacity":      scopeZoneMarket,
	"SpotMaxPriceTooLow":                scopeZoneMarket,
	"Unsupported":                       scopeZoneMarket, // type or market not offered in this zone
	"InsufficientFreeAddressesInSubnet": scopeZone,
	"MaxSpotInstanceCountExceeded":      scopeMarket,
	"InstanceLimitExceeded":             scopeMarket,
	"VcpuLimitExceeded":                 scopeMarket,
}

// classify returns the scope of err, scopeNone when it is no capacity
// error, and its code.
func classify(err error) (scope, string) {
	code := awsutil.ErrorCode(err)
	return capacityCodes[code], code
}

// LaunchFailure is one RunInstances call refused for capacity.
type LaunchFailure struct {
	Subnet string
	Zone   string
	Market autoscaler.Market
	// Code is EC2's error code, e.g. "InsufficientInstanceCapacity".
	Code    string
	Message string
}

// CapacityError is returned by Launch when no zone or market it may use can
// launch the instances still missing. It matches
// autoscaler.ErrInsufficientCapacity with errors.Is.
type CapacityError struct {
	// Wanted is the operation's count; Have is how many it has now.
	Wanted, Have int
	// Failures are the refusals seen by this call, in order. It may be
	// empty when every zone and market was still being avoided after
	// earlier failures.
	Failures []LaunchFailure
	// AvoidedUntil is when the earliest avoided zone and market may be
	// tried again.
	AvoidedUntil time.Time
}

// Error summarises the failures.
func (e *CapacityError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ec2fleet: %s: have %d of %d instances", autoscaler.ErrInsufficientCapacity, e.Have, e.Wanted)
	if len(e.Failures) == 0 {
		fmt.Fprintf(&b, "; every zone and market is avoided after recent failures (until %s)", e.AvoidedUntil.UTC().Format(time.RFC3339))
		return b.String()
	}
	b.WriteString(": ")
	for i, f := range e.Failures {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %s (%s): %s", f.Zone, f.Market, f.Subnet, f.Code)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, autoscaler.ErrInsufficientCapacity) true.
func (e *CapacityError) Unwrap() error { return autoscaler.ErrInsufficientCapacity }
