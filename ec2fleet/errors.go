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
	scopeNone     scope = iota // not a capacity error
	scopePool                  // this type in this zone in this market
	scopeTypeZone              // this type in this zone, both markets
	scopeZone                  // every type and market in this zone (the subnet)
	scopeMarket                // this market in every zone (an account limit)
)

// capacityCodes classifies the EC2 error codes that mean "not here, not
// now": the launch should use other pools instead of failing.
var capacityCodes = map[string]scope{
	"InsufficientInstanceCapacity":      scopePool,
	"SpotMaxPriceTooLow":                scopePool,
	"UnfulfillableCapacity":             scopePool,     // EC2 Fleet: no pool of the call could fill its market
	"Unsupported":                       scopeTypeZone, // type not offered in this zone
	"InsufficientFreeAddressesInSubnet": scopeZone,
	"MaxSpotInstanceCountExceeded":      scopeMarket,
	"InstanceLimitExceeded":             scopeMarket,
	"VcpuLimitExceeded":                 scopeMarket,
}

// unavailable returns the pools a capacity error of scope sc in pool q
// rules out.
func (sc scope) unavailable(q Pool) []Pool {
	switch sc {
	case scopePool:
		return []Pool{q}
	case scopeTypeZone:
		return []Pool{{q.InstanceType, q.Zone, autoscaler.MarketSpot}, {q.InstanceType, q.Zone, autoscaler.MarketOnDemand}}
	case scopeZone:
		return []Pool{{"", q.Zone, autoscaler.MarketSpot}, {"", q.Zone, autoscaler.MarketOnDemand}}
	case scopeMarket:
		return []Pool{{Market: q.Market}}
	}
	return nil
}

// classify returns the scope of err, scopeNone when it is no capacity
// error, and its code.
func classify(err error) (scope, string) {
	code := awsutil.ErrorCode(err)
	return capacityCodes[code], code
}

// LaunchFailure is one pool that refused a launch for capacity, as
// CreateFleet reported it.
type LaunchFailure struct {
	Subnet string
	Zone   string
	Market autoscaler.Market
	// InstanceType is empty when EC2 did not say (the launch template's
	// type).
	InstanceType string
	// Code is EC2's error code, e.g. "InsufficientInstanceCapacity".
	Code    string
	Message string
}

// CapacityError is returned by Launch when no pool (instance type, zone
// and market) it may use can launch the instances still missing. It matches
// autoscaler.ErrInsufficientCapacity with errors.Is.
type CapacityError struct {
	// Wanted is the operation's count; Have is how many it has now.
	Wanted, Have int
	// Failures are the refusals seen by this call, in order. It may be
	// empty when every pool was still being avoided after earlier
	// failures.
	Failures []LaunchFailure
	// AvoidedUntil is when the earliest avoided pool may be tried again.
	AvoidedUntil time.Time
	// Zones, when not empty, are the zones the launch was restricted to
	// (autoscaler.LaunchRequest.Zones) when none of the configured
	// subnets is in them: no pool at all could be asked.
	Zones []string
}

// Error summarises the failures.
func (e *CapacityError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ec2fleet: %s: have %d of %d instances", autoscaler.ErrInsufficientCapacity, e.Have, e.Wanted)
	if len(e.Zones) > 0 {
		fmt.Fprintf(&b, "; no configured subnet is in the zones the launch may use (%s)", strings.Join(e.Zones, ", "))
		return b.String()
	}
	if len(e.Failures) == 0 {
		fmt.Fprintf(&b, "; every pool is avoided after recent failures (the first until %s)", e.AvoidedUntil.UTC().Format(time.RFC3339))
		return b.String()
	}
	b.WriteString(": ")
	for i, f := range e.Failures {
		if i > 0 {
			b.WriteString("; ")
		}
		if f.InstanceType != "" {
			fmt.Fprintf(&b, "%s ", f.InstanceType)
		}
		fmt.Fprintf(&b, "%s %s (%s): %s", f.Zone, f.Market, f.Subnet, f.Code)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, autoscaler.ErrInsufficientCapacity) true.
func (e *CapacityError) Unwrap() error { return autoscaler.ErrInsufficientCapacity }
