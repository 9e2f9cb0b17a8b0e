package decision

import (
	"fmt"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// FirstOf returns a policy that asks each policy in turn and returns the
// first decision that is not Hold; when all hold, it returns the last
// policy's Hold (with its reason). Put the most specific policy first.
func FirstOf(policies ...autoscaler.Policy) autoscaler.Policy {
	return autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		d := autoscaler.HoldBecause("no policy")
		for _, p := range policies {
			d = p.Decide(in)
			if d.Action != autoscaler.Hold {
				return d
			}
		}
		return d
	})
}

// Max returns a policy that asks every policy and keeps the most capacity
// anyone needs: the largest scale-up if any policy scales up; a scale-down
// only when every policy scales down (then the smallest one); otherwise
// Hold. It is the conservative way to combine signals.
func Max(policies ...autoscaler.Policy) autoscaler.Policy {
	return autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		if len(policies) == 0 {
			return autoscaler.HoldBecause("no policy")
		}
		var up, down *autoscaler.Decision
		downs := 0
		var hold autoscaler.Decision
		for _, p := range policies {
			d := p.Decide(in)
			switch d.Action {
			case autoscaler.ScaleUp:
				if up == nil || d.Count > up.Count {
					up = &d
				}
			case autoscaler.ScaleDown:
				downs++
				if down == nil || d.Count < down.Count {
					down = &d
				}
			default:
				hold = d
			}
		}
		switch {
		case up != nil:
			return *up
		case downs == len(policies):
			return *down
		case down != nil:
			return autoscaler.HoldBecause("only %d of %d policies want to scale down (%s)", downs, len(policies), hold.Reason)
		}
		return hold
	})
}

// Named wraps a policy so that its decisions' reasons start with name, for
// telling composed policies apart in logs.
func Named(name string, p autoscaler.Policy) autoscaler.Policy {
	return autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		d := p.Decide(in)
		d.Reason = fmt.Sprintf("%s: %s", name, d.Reason)
		return d
	})
}
