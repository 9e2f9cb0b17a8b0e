package sim

import (
	"context"
	"slices"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"k8s.io/utils/clock"
)

// fleet puts a cache in front of fake.Fleet's List. fake.Fleet.List walks,
// and allocates room for, every instance ever launched, terminated ones
// included: in a month of simulation that is thousands, on every tick. The
// cache is dropped whenever the fleet may have changed: a launch or a
// termination (the fake's counts move), a boot that finished, or an
// interruption or reclaim (the model sets dirty). Launch and Terminate go
// to the fake unchanged.
type fleet struct {
	*fake.Fleet
	clock clock.PassiveClock

	dirty            bool
	valid            bool
	launched, killed int
	nextBoot         time.Time
	cached           []autoscaler.Instance
}

// List implements autoscaler.FleetProvider; callers get their own copy.
func (f *fleet) List(ctx context.Context) ([]autoscaler.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := f.clock.Now()
	launched, killed := f.Counts()
	if !f.valid || f.dirty || launched != f.launched || killed != f.killed || (!f.nextBoot.IsZero() && !now.Before(f.nextBoot)) {
		ins, err := f.Fleet.List(ctx)
		if err != nil {
			return nil, err
		}
		f.cached, f.valid, f.dirty, f.launched, f.killed, f.nextBoot = ins, true, false, launched, killed, time.Time{}
		for _, in := range ins {
			if in.State == autoscaler.StatePending {
				if at := f.RunningSince(in.ID); f.nextBoot.IsZero() || at.Before(f.nextBoot) {
					f.nextBoot = at
				}
			}
		}
	}
	return slices.Clone(f.cached), nil
}
