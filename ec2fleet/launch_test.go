package ec2fleet_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
	testingclock "k8s.io/utils/clock/testing"
)

var twoTypes = []string{"m5.large", "m6i.large"}

// poolsA and poolsB are the overrides of twoTypes in subnet a (zone a)
// and subnet b (zone b).
var (
	poolsA = []string{"m5.large@eu-west-1a", "m6i.large@eu-west-1a"}
	poolsB = []string{"m5.large@eu-west-1b", "m6i.large@eu-west-1b"}
)

// placed is where a returned instance went: "spot m5.large@eu-west-1a".
func placed(ins []autoscaler.Instance) []string {
	var out []string
	for _, in := range ins {
		out = append(out, string(in.Market)+" "+in.InstanceType+"@"+in.Zone)
	}
	return out
}

func TestLaunchIsOneFleetCallPerZoneOverItsSubnetsAndTypes(t *testing.T) {
	types2 := func(c *ec2fleet.Config) { c.InstanceTypes = twoTypes }
	for _, tc := range []struct {
		name     string
		mod      func(*ec2fleet.Config)
		existing int // instances launched before (70% spot)
		count    int
		want     []fleetCall
		markets  map[autoscaler.Market]int
	}{
		{"default 70% spot, 3 of 3", types2, 0, 3,
			[]fleetCall{{Spot: 1, OnDemand: 1, Pools: poolsA}, {Spot: 1, Pools: poolsB}}, map[autoscaler.Market]int{"spot": 2, "on-demand": 1}},
		{"the fleet's share is kept; the emptier zone", types2, 3, 1,
			[]fleetCall{{Spot: 1, Pools: poolsB}}, map[autoscaler.Market]int{"spot": 1}},
		{"spot first", func(c *ec2fleet.Config) { types2(c); c.Strategy = ec2fleet.StrategySpotFirst }, 0, 3,
			[]fleetCall{{Spot: 2, Pools: poolsA}, {Spot: 1, Pools: poolsB}}, map[autoscaler.Market]int{"spot": 3}},
		{"on demand only", func(c *ec2fleet.Config) { types2(c); c.Strategy = ec2fleet.StrategyOnDemand }, 0, 2,
			[]fleetCall{{OnDemand: 1, Pools: poolsA}, {OnDemand: 1, Pools: poolsB}}, map[autoscaler.Market]int{"on-demand": 2}},
		{"no types: the launch template's", nil, 0, 1,
			[]fleetCall{{Spot: 1, Pools: []string{"-@eu-west-1a"}}}, map[autoscaler.Market]int{"spot": 1}},
		{"one type is a list of one", func(c *ec2fleet.Config) { c.InstanceTypes = []string{"t3.large"} }, 0, 2,
			[]fleetCall{{Spot: 1, Pools: []string{"t3.large@eu-west-1a"}}, {OnDemand: 1, Pools: []string{"t3.large@eu-west-1b"}}}, map[autoscaler.Market]int{"spot": 1, "on-demand": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEC2()
			ctx := context.Background()
			if tc.existing > 0 {
				pre := newFakeProvider(t, f, types2)
				if _, err := pre.Launch(ctx, autoscaler.LaunchRequest{OperationID: "before", Count: tc.existing}); err != nil {
					t.Fatal(err)
				}
				f.fleets = nil
			}
			p := newFakeProvider(t, f, tc.mod)
			got, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op", Count: tc.count})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, f.calls()); diff != "" {
				t.Errorf("CreateFleet calls (-want +got):\n%s", diff)
			}
			markets := map[autoscaler.Market]int{}
			for _, in := range got {
				markets[in.Market]++
				if in.OperationID != "op" || in.Tags[ec2fleet.TagCluster] != "prod" || in.Tags[ec2fleet.TagManagedBy] != "node-fleet" || in.Tags["Name"] != "prod-worker" || in.Zone == "" {
					t.Errorf("instance %s: operation %q, zone %q, tags %v", in.ID, in.OperationID, in.Zone, in.Tags)
				}
			}
			if diff := cmp.Diff(tc.markets, markets); diff != "" {
				t.Errorf("markets of the returned instances (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLaunchCapacityErrors(t *testing.T) {
	// refuse fails pools matching "type@zone/market" patterns, "*" for
	// any part.
	refuse := func(code string, where ...string) func(fakePool) string {
		return func(p fakePool) string {
			for _, w := range where {
				pool, m, _ := strings.Cut(w, "/")
				typ, z, _ := strings.Cut(pool, "@")
				if (typ == "*" || typ == p.Type) && (z == "*" || "eu-west-1"+z == p.Zone) && (m == "*" || m == p.Market) {
					return code
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name      string
		strategy  ec2fleet.Strategy
		count     int
		refuse    func(fakePool) string
		wantCalls []fleetCall
		wantGot   []string
		wantCap   bool // error matches ErrInsufficientCapacity
		failures  int
	}{
		{"no spot in the first pool: the zone's next pool in the same call", ec2fleet.StrategySpotFirst, 1,
			refuse("InsufficientInstanceCapacity", "m5.large@a/spot"),
			[]fleetCall{{Spot: 1, Pools: poolsA}}, []string{"spot m6i.large@eu-west-1a"}, false, 0},
		{"spot price too low everywhere: on demand in a second call per zone", ec2fleet.StrategySpotShare, 3,
			refuse("SpotMaxPriceTooLow", "*@*/spot"),
			[]fleetCall{{Spot: 1, OnDemand: 1, Pools: poolsA}, {OnDemand: 1, Pools: poolsA},
				{Spot: 1, Pools: poolsB}, {OnDemand: 1, Pools: poolsB}},
			[]string{"on-demand m5.large@eu-west-1a", "on-demand m5.large@eu-west-1a", "on-demand m5.large@eu-west-1b"}, false, 0},
		{"subnet out of addresses: its zone's share goes to the other zone", ec2fleet.StrategySpotFirst, 2,
			refuse("InsufficientFreeAddressesInSubnet", "*@a/*"),
			[]fleetCall{{Spot: 1, Pools: poolsA}, {Spot: 1, Pools: poolsB}, {Spot: 1, Pools: poolsB}},
			[]string{"spot m5.large@eu-west-1b", "spot m5.large@eu-west-1b"}, false, 0},
		{"spot unfulfillable in the zone (EC2 Fleet's code for no spot pool able to fill): on demand there", ec2fleet.StrategySpotFirst, 1,
			refuse("UnfulfillableCapacity", "*@a/spot"),
			[]fleetCall{{Spot: 1, Pools: poolsA}, {OnDemand: 1, Pools: poolsA}}, []string{"on-demand m5.large@eu-west-1a"}, false, 0},
		{"vCPU limit: nothing anywhere, the other zone not asked", ec2fleet.StrategyOnDemand, 2,
			refuse("VcpuLimitExceeded", "*@*/on-demand"),
			[]fleetCall{{OnDemand: 1, Pools: poolsA}}, nil, true, 2},
		{"no capacity at all", ec2fleet.StrategySpotFirst, 2,
			refuse("InsufficientInstanceCapacity", "*@*/*"),
			[]fleetCall{{Spot: 1, Pools: poolsA}, {OnDemand: 1, Pools: poolsA}, {Spot: 1, Pools: poolsB}, {OnDemand: 1, Pools: poolsB}}, nil, true, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEC2()
			f.poolErr = tc.refuse
			p := newFakeProvider(t, f, func(c *ec2fleet.Config) { c.Strategy, c.InstanceTypes = tc.strategy, twoTypes })
			got, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op", Count: tc.count})
			if errors.Is(err, autoscaler.ErrInsufficientCapacity) != tc.wantCap {
				t.Fatalf("err = %v, want ErrInsufficientCapacity: %v", err, tc.wantCap)
			}
			if !tc.wantCap && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if diff := cmp.Diff(tc.wantCalls, f.calls()); diff != "" {
				t.Errorf("CreateFleet calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantGot, placed(got)); diff != "" {
				t.Errorf("instances (-want +got):\n%s", diff)
			}
			if tc.wantCap {
				var ce *ec2fleet.CapacityError
				if !errors.As(err, &ce) {
					t.Fatalf("error %T is no *CapacityError", err)
				}
				if ce.Wanted != tc.count || ce.Have != len(got) || len(ce.Failures) != tc.failures {
					t.Errorf("CapacityError: wanted %d have %d failures %d; want %d, %d, %d", ce.Wanted, ce.Have, len(ce.Failures), tc.count, len(got), tc.failures)
				}
			}
		})
	}
}

// A pool that refused is left out of the next launch's overrides, also by
// a new provider (a cold start) reading the same PoolMemory, until
// AvoidFor (3 minutes by default) has passed.
func TestUnavailablePoolsAreRememberedAcrossLaunchesAndProviders(t *testing.T) {
	f := newFakeEC2()
	full := true
	f.poolErr = func(p fakePool) string {
		if full && p == (fakePool{"m5.large", "eu-west-1a", "spot"}) {
			return "InsufficientInstanceCapacity"
		}
		return ""
	}
	memory := &ec2fleet.MemoryPools{}
	clk := testingclock.NewFakePassiveClock(t0)
	provider := func() *ec2fleet.Provider {
		return newFakeProvider(t, f, func(c *ec2fleet.Config) {
			c.Strategy, c.InstanceTypes, c.Pools, c.Clock = ec2fleet.StrategySpotFirst, twoTypes, memory, clk
		})
	}
	ctx := context.Background()
	// Every launch is for zone a, where the short pool is.
	launch := func(p *ec2fleet.Provider, op string) []fleetCall {
		t.Helper()
		f.fleets = nil
		if _, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: op, Count: 1, Zones: []string{"eu-west-1a"}}); err != nil {
			t.Fatal(err)
		}
		return f.calls()
	}
	if diff := cmp.Diff([]fleetCall{{Spot: 1, Pools: poolsA}}, launch(provider(), "op1")); diff != "" {
		t.Errorf("first launch (-want +got):\n%s", diff)
	}
	saved, err := memory.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []ec2fleet.UnavailablePool{{Pool: ec2fleet.Pool{InstanceType: "m5.large", Zone: "eu-west-1a", Market: autoscaler.MarketSpot},
		Until: t0.Add(3 * time.Minute), Code: "InsufficientInstanceCapacity"}}
	if diff := cmp.Diff(want, saved); diff != "" {
		t.Errorf("saved pools (-want +got):\n%s", diff)
	}
	// A cold start a minute later: the pool is not offered.
	clk.SetTime(t0.Add(time.Minute))
	if diff := cmp.Diff([]fleetCall{{Spot: 1, Pools: []string{"m6i.large@eu-west-1a"}}},
		launch(provider(), "op2")); diff != "" {
		t.Errorf("launch by a new provider inside the window (-want +got):\n%s", diff)
	}
	// After the window the pool is offered again.
	full = false
	clk.SetTime(t0.Add(3 * time.Minute))
	calls := launch(provider(), "op3")
	if len(calls) != 1 || len(calls[0].Pools) != 2 {
		t.Errorf("launch after the window: %+v, want one call over both pools of zone a", calls)
	}
}

// A pool avoided for spot only may still serve on-demand: the two markets
// are then asked in two calls, each with its own pools.
func TestPoolAvoidedForOneMarketSplitsTheCall(t *testing.T) {
	f := newFakeEC2()
	memory := &ec2fleet.MemoryPools{}
	ctx := context.Background()
	if err := memory.Save(ctx, []ec2fleet.UnavailablePool{{Pool: ec2fleet.Pool{InstanceType: "m5.large", Zone: "eu-west-1a", Market: autoscaler.MarketSpot},
		Until: t0.Add(time.Minute), Code: "InsufficientInstanceCapacity"}}); err != nil {
		t.Fatal(err)
	}
	p := newFakeProvider(t, f, func(c *ec2fleet.Config) { c.InstanceTypes, c.Pools, c.SpotShare = twoTypes, memory, 0.5 })
	got, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op", Count: 2, Zones: []string{"eu-west-1a"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []fleetCall{
		{Spot: 1, Pools: []string{"m6i.large@eu-west-1a"}},
		{OnDemand: 1, Pools: poolsA},
	}
	if diff := cmp.Diff(want, f.calls()); diff != "" {
		t.Errorf("CreateFleet calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"spot m6i.large@eu-west-1a", "on-demand m5.large@eu-west-1a"}, placed(got)); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
}

func TestLaunchWhileEverythingIsAvoidedMakesNoCall(t *testing.T) {
	f := newFakeEC2()
	f.poolErr = func(fakePool) string { return "InsufficientInstanceCapacity" }
	p := newFakeProvider(t, f, func(c *ec2fleet.Config) { c.Strategy = ec2fleet.StrategyOnDemand })
	ctx := context.Background()
	if _, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op1", Count: 1}); !errors.Is(err, autoscaler.ErrInsufficientCapacity) {
		t.Fatalf("first launch: %v", err)
	}
	f.fleets = nil
	_, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op2", Count: 1})
	var ce *ec2fleet.CapacityError
	if !errors.As(err, &ce) || !errors.Is(err, autoscaler.ErrInsufficientCapacity) {
		t.Fatalf("second launch: %v, want a *CapacityError", err)
	}
	if len(f.calls()) != 0 {
		t.Errorf("CreateFleet called %d times while every pool is avoided", len(f.calls()))
	}
	if want := t0.Add(ec2fleet.DefaultAvoidFor); !ce.AvoidedUntil.Equal(want) || !strings.Contains(err.Error(), "avoided") {
		t.Errorf("AvoidedUntil %s (want %s), error %q", ce.AvoidedUntil, want, err)
	}
}

func TestThrottlingIsReturnedNotRetried(t *testing.T) {
	// The SDK's retryer (on the real client) has already retried when an
	// error reaches the provider; the provider must not loop again.
	f := newFakeEC2()
	f.callErr = func(*ec2.CreateFleetInput) error { return apiErr("RequestLimitExceeded") }
	p := newFakeProvider(t, f, nil)
	got, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op", Count: 2})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "RequestLimitExceeded" {
		t.Fatalf("err = %v, want the throttling error", err)
	}
	if errors.Is(err, autoscaler.ErrInsufficientCapacity) {
		t.Errorf("throttling classified as a capacity error")
	}
	if len(got) != 0 || len(f.calls()) != 1 {
		t.Errorf("%d instances after %d calls, want 0 after 1", len(got), len(f.calls()))
	}
}

// EC2 answers a ClientToken reused with other parameters with
// IdempotentParameterMismatch: an earlier attempt of the operation exists
// and may have launched what DescribeInstances does not show yet. The
// provider launches nothing more (no fallback call) and says so.
func TestReusedTokenWithOtherParametersLaunchesNothing(t *testing.T) {
	f := newFakeEC2()
	f.callErr = func(*ec2.CreateFleetInput) error { return apiErr("IdempotentParameterMismatch") }
	p := newFakeProvider(t, f, nil)
	got, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op", Count: 2})
	if err == nil || errors.Is(err, autoscaler.ErrInsufficientCapacity) || !strings.Contains(err.Error(), "not launching again") {
		t.Fatalf("err = %v, want a non-capacity error saying it does not launch again", err)
	}
	if len(got) != 0 || len(f.calls()) != 1 {
		t.Errorf("%d instances after %d calls, want 0 after 1", len(got), len(f.calls()))
	}
}

// The token names the operation, how many instances it had, the zone, the
// call's phase and the avoid window, never the pools: a retry choosing
// other types or subnets of the zone (other pools avoided) sends the same
// token.
func TestClientTokenDoesNotDependOnPoolsOrMarkets(t *testing.T) {
	token := func(mod func(*ec2fleet.Config), op string) string {
		t.Helper()
		f := newFakeEC2()
		p := newFakeProvider(t, f, mod)
		if _, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: op, Count: 2}); err != nil {
			t.Fatal(err)
		}
		return aws.ToString(f.fleets[0].ClientToken)
	}
	first := token(func(c *ec2fleet.Config) { c.InstanceTypes = twoTypes }, "prod-7-up")
	for name, mod := range map[string]func(*ec2fleet.Config){
		"other types":          func(c *ec2fleet.Config) { c.InstanceTypes = []string{"c6i.large"} },
		"other subnets":        func(c *ec2fleet.Config) { c.Subnets = []string{"subnet-a2", "subnet-b"} },
		"all spot":             func(c *ec2fleet.Config) { c.Strategy = ec2fleet.StrategySpotFirst },
		"other spot strategy":  func(c *ec2fleet.Config) { c.SpotAllocationStrategy = types.SpotAllocationStrategyDiversified },
		"a pool avoided first": func(c *ec2fleet.Config) { c.Pools = avoidedPool("m5.large", "eu-west-1a") },
	} {
		if got := token(mod, "prod-7-up"); got != first {
			t.Errorf("%s: token %q, want %q", name, got, first)
		}
	}
	if other := token(nil, "prod-8-up"); other == first {
		t.Errorf("another operation got the same token %q", other)
	}
	// Seconds later (a retry after a lost answer): the same token. Once
	// the avoid window has passed: another, so that an attempt that found
	// no capacity is not answered again with its old, empty result.
	at := func(d time.Duration) func(*ec2fleet.Config) {
		return func(c *ec2fleet.Config) {
			c.InstanceTypes, c.Clock = twoTypes, testingclock.NewFakePassiveClock(t0.Add(d))
		}
	}
	if got := token(at(20*time.Second), "prod-7-up"); got != first {
		t.Errorf("20 s later: token %q, want %q", got, first)
	}
	if got := token(at(ec2fleet.DefaultAvoidFor), "prod-7-up"); got == first {
		t.Errorf("an avoid window later: the same token %q", got)
	}
	if len(first) == 0 || len(first) > 64 {
		t.Errorf("token %q: empty or too long for EC2", first)
	}
}

func avoidedPool(typ, zone string) ec2fleet.PoolMemory {
	m := &ec2fleet.MemoryPools{}
	_ = m.Save(context.Background(), []ec2fleet.UnavailablePool{{Pool: ec2fleet.Pool{InstanceType: typ, Zone: zone, Market: autoscaler.MarketSpot}, Until: t0.Add(time.Hour)}})
	return m
}

func TestNonCapacityErrorInTheAnswerIsReturned(t *testing.T) {
	f := newFakeEC2()
	f.poolErr = func(fakePool) string { return "InvalidLaunchTemplateId.VersionNotFound" }
	p := newFakeProvider(t, f, nil)
	got, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op", Count: 1})
	if err == nil || errors.Is(err, autoscaler.ErrInsufficientCapacity) || !strings.Contains(err.Error(), "InvalidLaunchTemplateId.VersionNotFound") {
		t.Fatalf("err = %v, want the launch template error", err)
	}
	if len(got) != 0 || len(f.calls()) != 1 {
		t.Errorf("%d instances after %d calls, want 0 after 1 (no fallback for a broken template)", len(got), len(f.calls()))
	}
}

// failingMemory cannot load nor save.
type failingMemory struct{ saves int }

func (m *failingMemory) Load(context.Context) ([]ec2fleet.UnavailablePool, error) {
	return nil, errors.New("table gone")
}

func (m *failingMemory) Save(context.Context, []ec2fleet.UnavailablePool) error {
	m.saves++
	return errors.New("table gone")
}

func TestPoolMemoryFailuresDoNotStopTheLaunch(t *testing.T) {
	f := newFakeEC2()
	f.poolErr = func(p fakePool) string {
		if p.Zone == "eu-west-1a" {
			return "InsufficientInstanceCapacity"
		}
		return ""
	}
	m := &failingMemory{}
	p := newFakeProvider(t, f, func(c *ec2fleet.Config) { c.Pools = m })
	got, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op", Count: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("Launch: %d instances, %v; want 1 and no error", len(got), err)
	}
	if m.saves != 1 {
		t.Errorf("%d saves, want 1 (the refused pool)", m.saves)
	}
}

func TestWarningsWhenFewTypesAreAllowedForSpot(t *testing.T) {
	many := []string{"m5.large", "m5a.large", "m6i.large", "m6a.large", "m7i.large", "m7a.large", "c5.xlarge", "c6i.xlarge", "r5.large", "r6i.large"}
	for _, tc := range []struct {
		name string
		mod  func(*ec2fleet.Config)
		want []string
	}{
		{"the template's type only", nil, []string{"ec2fleet: spot may use only the launch template's instance type; AWS advises at least 10 types across every zone (set InstanceTypes or Requirements)"}},
		{"two types", func(c *ec2fleet.Config) { c.InstanceTypes = twoTypes },
			[]string{"ec2fleet: spot may use only 2 instance type(s) (m5.large, m6i.large); AWS advises at least 10 across every zone"}},
		{"ten types", func(c *ec2fleet.Config) { c.InstanceTypes = many }, nil},
		{"attributes", func(c *ec2fleet.Config) {
			c.Requirements = &ec2fleet.Requirements{VCPUs: ec2fleet.Range{Min: 2, Max: 4}}
		}, nil},
		{"no spot", func(c *ec2fleet.Config) { c.Strategy = ec2fleet.StrategyOnDemand }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakeProvider(t, newFakeEC2(), tc.mod)
			if diff := cmp.Diff(tc.want, p.Warnings()); diff != "" {
				t.Errorf("Warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// With attribute-based selection there is one override per subnet, and a
// type that refused in a zone is excluded there for that market.
func TestRequirementsExcludeRefusedTypesPerZone(t *testing.T) {
	f := newFakeEC2()
	memory := avoidedPool("m5.large", "eu-west-1a")
	p := newFakeProvider(t, f, func(c *ec2fleet.Config) {
		c.Requirements = &ec2fleet.Requirements{VCPUs: ec2fleet.Range{Min: 2, Max: 4}, MemoryMiB: ec2fleet.Range{Min: 4096}}
		c.Strategy, c.Pools = ec2fleet.StrategySpotFirst, memory
	})
	if _, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op", Count: 2}); err != nil {
		t.Fatal(err)
	}
	type ov struct {
		Subnet           string
		VCPU, Mem        [2]int32
		Excluded         []string
		HasInstanceTypes bool
	}
	var got []ov // one call per zone
	for _, in := range f.fleets {
		for _, o := range in.LaunchTemplateConfigs[0].Overrides {
			r := o.InstanceRequirements
			got = append(got, ov{aws.ToString(o.SubnetId), [2]int32{aws.ToInt32(r.VCpuCount.Min), aws.ToInt32(r.VCpuCount.Max)},
				[2]int32{aws.ToInt32(r.MemoryMiB.Min), aws.ToInt32(r.MemoryMiB.Max)}, r.ExcludedInstanceTypes, o.InstanceType != ""})
		}
	}
	want := []ov{
		{"subnet-a", [2]int32{2, 4}, [2]int32{4096, 0}, []string{"m5.large"}, false},
		{"subnet-b", [2]int32{2, 4}, [2]int32{4096, 0}, nil, false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("overrides (-want +got):\n%s", diff)
	}
}

// A replayed operation whose instances were terminated meanwhile: EC2
// answers the reused token with the old, gone instances. They are not
// counted as launched, and the error says why (asking again with the same
// token would give them again).
func TestReplayedTokenNamingGoneInstancesIsAnError(t *testing.T) {
	f := newFakeEC2()
	p := newFakeProvider(t, f, func(c *ec2fleet.Config) { c.Strategy = ec2fleet.StrategyOnDemand })
	ctx := context.Background()
	first, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Terminate(ctx, ids(first)); err != nil {
		t.Fatal(err)
	}
	f.replay = []types.CreateFleetInstance{{InstanceIds: ids(first), InstanceType: "t3.medium", Lifecycle: types.InstanceLifecycleOnDemand}}
	got, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op", Count: 1})
	if err == nil || errors.Is(err, autoscaler.ErrInsufficientCapacity) || !strings.Contains(err.Error(), first[0].ID) {
		t.Fatalf("err = %v, want an error naming the gone instance %s", err, first[0].ID)
	}
	if len(got) != 0 {
		t.Errorf("Launch returned %v, want none (the only instance is terminated)", ids(got))
	}
}

// A capacity error for the whole call (not per pool) rules out what its
// code says for every pool the call offered: an account's vCPU limit, the
// market everywhere, so the other zone is not asked.
func TestWholeCallRefusedForCapacity(t *testing.T) {
	f := newFakeEC2()
	f.callErr = func(*ec2.CreateFleetInput) error { return apiErr("VcpuLimitExceeded") }
	memory := &ec2fleet.MemoryPools{}
	p := newFakeProvider(t, f, func(c *ec2fleet.Config) {
		c.Strategy, c.InstanceTypes, c.Pools = ec2fleet.StrategyOnDemand, twoTypes, memory
	})
	ctx := context.Background()
	_, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op", Count: 2})
	var ce *ec2fleet.CapacityError
	if !errors.As(err, &ce) || len(ce.Failures) != 2 || len(f.calls()) != 1 {
		t.Fatalf("err = %v after %d calls, want a *CapacityError naming zone a's 2 pools after 1 call", err, len(f.calls()))
	}
	saved, _ := memory.Load(ctx)
	want := []ec2fleet.UnavailablePool{{Pool: ec2fleet.Pool{Market: autoscaler.MarketOnDemand}, Until: t0.Add(ec2fleet.DefaultAvoidFor), Code: "VcpuLimitExceeded"}}
	if diff := cmp.Diff(want, saved); diff != "" {
		t.Errorf("saved pools (-want +got):\n%s", diff)
	}
	if _, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op2", Count: 1}); !errors.Is(err, autoscaler.ErrInsufficientCapacity) || len(f.calls()) != 1 {
		t.Errorf("second launch: %v after %d calls in all, want a capacity error and no new call", err, len(f.calls()))
	}
}
