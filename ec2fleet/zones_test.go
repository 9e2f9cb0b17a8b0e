package ec2fleet_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
)

// perZone counts instances per zone.
func perZone(ins []autoscaler.Instance) map[string]int {
	out := map[string]int{}
	for _, in := range ins {
		out[in.Zone]++
	}
	return out
}

func TestLaunchWaterFillsTheZones(t *testing.T) {
	two := []string{"subnet-a", "subnet-b"}
	three := []string{"subnet-a", "subnet-b", "subnet-c"}
	for _, tc := range []struct {
		name    string
		subnets []string
		before  *autoscaler.LaunchRequest // launched first, under another operation
		req     autoscaler.LaunchRequest
		want    map[string]int
		calls   int
	}{
		{"4 over 2 zones are 2 and 2", two, nil, autoscaler.LaunchRequest{Count: 4},
			map[string]int{"eu-west-1a": 2, "eu-west-1b": 2}, 2},
		{"6 over 3 zones are 2, 2 and 2", three, nil, autoscaler.LaunchRequest{Count: 6},
			map[string]int{"eu-west-1a": 2, "eu-west-1b": 2, "eu-west-1c": 2}, 3},
		{"the planner's counts: the emptier zones level up", three, nil,
			autoscaler.LaunchRequest{Count: 4, ZoneCounts: map[string]int{"eu-west-1a": 3, "eu-west-1b": 1}},
			map[string]int{"eu-west-1b": 2, "eu-west-1c": 2}, 2},
		{"no counts from the planner: the fleet as listed", two,
			&autoscaler.LaunchRequest{Count: 3, Zones: []string{"eu-west-1a"}}, autoscaler.LaunchRequest{Count: 3},
			map[string]int{"eu-west-1b": 3}, 1},
		{"only the allowed zones", three, nil, autoscaler.LaunchRequest{Count: 3, Zones: []string{"eu-west-1c", "eu-west-1b"}},
			map[string]int{"eu-west-1b": 2, "eu-west-1c": 1}, 2},
		{"an allowed zone without a subnet is not used", two, nil, autoscaler.LaunchRequest{Count: 2, Zones: []string{"eu-west-1b", "eu-west-1z"}},
			map[string]int{"eu-west-1b": 2}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEC2()
			p := newFakeProvider(t, f, func(c *ec2fleet.Config) { c.Subnets, c.InstanceTypes = tc.subnets, twoTypes })
			ctx := context.Background()
			if tc.before != nil {
				b := *tc.before
				b.OperationID = "before"
				if _, err := p.Launch(ctx, b); err != nil {
					t.Fatal(err)
				}
				f.fleets = nil
			}
			req := tc.req
			req.OperationID = "op"
			got, err := p.Launch(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, perZone(got)); diff != "" {
				t.Errorf("instances per zone (-want +got):\n%s", diff)
			}
			if n := len(f.calls()); n != tc.calls {
				t.Errorf("%d CreateFleet calls, want %d (one per zone): %+v", n, tc.calls, f.calls())
			}
			for _, c := range f.calls() {
				zone := ""
				for _, pool := range c.Pools {
					_, z, _ := strings.Cut(pool, "@")
					if zone != "" && z != zone {
						t.Errorf("one call offered pools in two zones: %v", c.Pools)
					}
					zone = z
				}
			}
		})
	}
}

func TestLaunchRestrictedToZonesWithoutASubnetIsACapacityError(t *testing.T) {
	f := newFakeEC2()
	p := newFakeProvider(t, f, nil)
	got, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op", Count: 1, Zones: []string{"eu-west-1c"}})
	var ce *ec2fleet.CapacityError
	if !errors.As(err, &ce) || !errors.Is(err, autoscaler.ErrInsufficientCapacity) || !strings.Contains(err.Error(), "eu-west-1c") {
		t.Fatalf("err = %v, want a *CapacityError naming eu-west-1c", err)
	}
	if len(got) != 0 || len(f.calls()) != 0 {
		t.Errorf("%d instances after %d calls, want none", len(got), len(f.calls()))
	}
}

// A zone that refuses capacity hands its share to the other zones in the
// same Launch, and its pools are remembered: the next launch does not ask
// it.
func TestZoneRefusingCapacityHandsItsShareToTheOthers(t *testing.T) {
	f := newFakeEC2()
	f.poolErr = func(p fakePool) string {
		if p.Zone == "eu-west-1a" {
			return "InsufficientInstanceCapacity"
		}
		return ""
	}
	memory := &ec2fleet.MemoryPools{}
	p := newFakeProvider(t, f, func(c *ec2fleet.Config) {
		c.Strategy, c.InstanceTypes, c.Pools = ec2fleet.StrategyOnDemand, twoTypes, memory
		c.Subnets = []string{"subnet-a", "subnet-b", "subnet-c"}
	})
	ctx := context.Background()
	got, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op1", Count: 6})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"eu-west-1b": 3, "eu-west-1c": 3}, perZone(got)); diff != "" {
		t.Errorf("instances per zone (-want +got):\n%s", diff)
	}
	poolsC := []string{"m5.large@eu-west-1c", "m6i.large@eu-west-1c"}
	want := []fleetCall{{OnDemand: 2, Pools: poolsA}, {OnDemand: 2, Pools: poolsB}, {OnDemand: 2, Pools: poolsC},
		{OnDemand: 1, Pools: poolsB}, {OnDemand: 1, Pools: poolsC}}
	if diff := cmp.Diff(want, f.calls()); diff != "" {
		t.Errorf("CreateFleet calls (-want +got):\n%s", diff)
	}
	saved, err := memory.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var zones []string
	for _, u := range saved {
		zones = append(zones, u.InstanceType+"@"+u.Zone+"/"+string(u.Market))
	}
	if diff := cmp.Diff([]string{"m5.large@eu-west-1a/on-demand", "m6i.large@eu-west-1a/on-demand"}, zones); diff != "" {
		t.Errorf("remembered pools (-want +got):\n%s", diff)
	}
	// The next launch water-fills over the zones that can launch.
	f.fleets = nil
	got, err = p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op2", Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]fleetCall{{OnDemand: 1, Pools: poolsB}, {OnDemand: 1, Pools: poolsC}}, f.calls()); diff != "" {
		t.Errorf("next launch's calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"eu-west-1b": 1, "eu-west-1c": 1}, perZone(got)); diff != "" {
		t.Errorf("next launch per zone (-want +got):\n%s", diff)
	}
}

// A retried operation counts its own instances in their zones, also when
// the planner's counts predate them, and launches only what is missing,
// in the other zones.
func TestRetriedLaunchCountsTheZonesItHas(t *testing.T) {
	for _, tc := range []struct {
		name   string
		counts map[string]int
	}{
		{"counts from List", nil},
		{"the planner's counts from before the first attempt", map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEC2()
			ctx := context.Background()
			// The first attempt got zone a's share and died.
			first := newFakeProvider(t, f, func(c *ec2fleet.Config) { c.InstanceTypes = twoTypes })
			if _, err := first.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op", Count: 2, Zones: []string{"eu-west-1a"}}); err != nil {
				t.Fatal(err)
			}
			f.fleets = nil
			p := newFakeProvider(t, f, func(c *ec2fleet.Config) { c.InstanceTypes = twoTypes })
			got, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op", Count: 4, ZoneCounts: tc.counts})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]int{"eu-west-1a": 2, "eu-west-1b": 2}, perZone(got)); diff != "" {
				t.Errorf("the operation's instances per zone (-want +got):\n%s", diff)
			}
			if calls := f.calls(); len(calls) != 1 || calls[0].Spot+calls[0].OnDemand != 2 {
				t.Errorf("retry's calls %+v, want one for the 2 missing", calls)
			}
		})
	}
}

// A launch whose last zone's answer was lost is retried while EC2 lists
// the first zone's instances but not yet the last's: the retry asks the
// last zone first, with the token of the lost call, so that EC2 answers
// with the instances it launched then instead of launching again.
func TestRetryAsksTheLostZoneWithItsToken(t *testing.T) {
	f := newFakeEC2()
	ctx := context.Background()
	lost := errors.New("connection reset by peer")
	f.lose = loseCall(2, lost)
	req := autoscaler.LaunchRequest{OperationID: "op", Count: 4}
	if _, err := newFakeProvider(t, f, nil).Launch(ctx, req); !errors.Is(err, lost) {
		t.Fatalf("first Launch: %v, want the lost answer", err)
	}
	first := f.fleets
	if len(first) != 2 {
		t.Fatalf("first Launch made %d calls, want 2 (one per zone)", len(first))
	}
	f.fleets, f.lose = nil, nil
	f.hide = func(in types.Instance) bool { return aws.ToString(in.Placement.AvailabilityZone) == "eu-west-1b" }
	_, _ = newFakeProvider(t, f, nil).Launch(ctx, req)
	if len(f.fleets) == 0 {
		t.Fatal("the retry made no call")
	}
	if got, want := aws.ToString(f.fleets[0].ClientToken), aws.ToString(first[1].ClientToken); got != want {
		t.Errorf("the retry's first call has token %q, want the lost call's %q", got, want)
	}
	if diff := cmp.Diff(f.calls()[0].Pools, []string{"-@eu-west-1b"}); diff != "" {
		t.Errorf("the retry's first call's pools (-got +want):\n%s", diff)
	}
}

// A launch over three zones whose last answer was lost is retried while
// EC2 lists only some of the zones' instances (eventual consistency, in
// any order). Whichever zones the retry cannot see yet, it asks them with
// the tokens of the first attempt's calls there, so EC2 answers with what
// it launched then: the operation never has more than its count, and the
// retry returns the count, each instance once.
func TestRetrySeeingAnySubsetOfTheZonesNeverLaunchesTwice(t *testing.T) {
	for _, hidden := range [][]string{
		nil, {"eu-west-1a"}, {"eu-west-1b"}, {"eu-west-1c"}, {"eu-west-1a", "eu-west-1b"},
		{"eu-west-1a", "eu-west-1c"}, {"eu-west-1a", "eu-west-1b", "eu-west-1c"},
	} {
		t.Run(strings.Join(append([]string{"hidden"}, hidden...), " "), func(t *testing.T) {
			f := newFakeEC2()
			f.idempotent = true
			three := func(c *ec2fleet.Config) { c.Subnets = []string{"subnet-a", "subnet-b", "subnet-c"} }
			ctx := context.Background()
			lost := errors.New("connection reset by peer")
			f.lose = loseCall(3, lost)
			req := autoscaler.LaunchRequest{OperationID: "op", Count: 6}
			if _, err := newFakeProvider(t, f, three).Launch(ctx, req); !errors.Is(err, lost) {
				t.Fatalf("first Launch: %v, want the lost answer", err)
			}
			f.lose = nil
			f.hide = func(in types.Instance) bool {
				return slices.Contains(hidden, aws.ToString(in.Placement.AvailabilityZone))
			}
			got, err := newFakeProvider(t, f, three).Launch(ctx, req)
			f.hide = nil
			all, lerr := newFakeProvider(t, f, three).List(ctx)
			if lerr != nil {
				t.Fatal(lerr)
			}
			if len(all) > req.Count {
				t.Errorf("the operation has %d instances after the retry, want at most %d (retry err %v)", len(all), req.Count, err)
			}
			if err != nil {
				t.Fatalf("the retry: %v, want EC2's earlier answers for the zones it cannot see", err)
			}
			distinct := map[string]bool{}
			for _, in := range got {
				distinct[in.ID] = true
			}
			if len(got) != req.Count || len(distinct) != req.Count {
				t.Errorf("the retry returned %d instances (%d distinct), want %d", len(got), len(distinct), req.Count)
			}
		})
	}
}

// EC2 answers a retry's token with the instances the earlier call
// launched, also when the retry already lists some of them: each instance
// is returned once, and one that is listed is not counted a second time.
func TestReplayedAnswerNamingAListedInstanceCountsItOnce(t *testing.T) {
	f := newFakeEC2()
	f.idempotent = true
	f.poolErr = func(p fakePool) string {
		if p.Zone == "eu-west-1b" {
			return "InsufficientInstanceCapacity"
		}
		return ""
	}
	onDemand := func(c *ec2fleet.Config) { c.Strategy = ec2fleet.StrategyOnDemand }
	ctx := context.Background()
	lost := errors.New("connection reset by peer")
	// Zone a launches one, zone b refuses, zone a is asked again for b's
	// share and that answer is lost.
	f.lose = loseCall(3, lost)
	req := autoscaler.LaunchRequest{OperationID: "op", Count: 2}
	first, err := newFakeProvider(t, f, onDemand).Launch(ctx, req)
	if !errors.Is(err, lost) || len(first) != 1 {
		t.Fatalf("first Launch: %v, %v; want one instance and the lost answer", ids(first), err)
	}
	f.lose = nil
	// The retry lists the second instance but not yet the first.
	f.hide = func(in types.Instance) bool { return aws.ToString(in.InstanceId) == first[0].ID }
	got, err := newFakeProvider(t, f, onDemand).Launch(ctx, req)
	seen := map[string]int{}
	for _, in := range got {
		seen[in.ID]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("the retry returned %s %d times: %v (err %v)", id, n, ids(got), err)
		}
	}
	if err == nil && len(seen) < req.Count {
		t.Errorf("the retry returned %v and no error, want %d distinct instances or an error", ids(got), req.Count)
	}
}
