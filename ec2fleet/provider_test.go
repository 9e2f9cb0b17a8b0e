package ec2fleet_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
	testingclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newFakeProvider(t *testing.T, f *fakeEC2, mod func(*ec2fleet.Config)) *ec2fleet.Provider {
	t.Helper()
	cfg := ec2fleet.Config{
		ClusterID:      "prod",
		Client:         f,
		LaunchTemplate: ec2fleet.LaunchTemplate{Name: "workers"},
		Subnets:        []string{"subnet-a", "subnet-b"},
		Clock:          testingclock.NewFakePassiveClock(t0),
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := ec2fleet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code + " (test)"} }

func TestNewValidatesConfig(t *testing.T) {
	ok := ec2fleet.Config{ClusterID: "c", Client: newFakeEC2(), LaunchTemplate: ec2fleet.LaunchTemplate{ID: "lt-1"}, Subnets: []string{"subnet-a"}}
	for _, tc := range []struct {
		name string
		mod  func(*ec2fleet.Config)
		want []string // substrings of the error; nil: no error
	}{
		{"valid", func(*ec2fleet.Config) {}, nil},
		{"empty", func(c *ec2fleet.Config) { *c = ec2fleet.Config{} }, []string{"ClusterID", "Client", "LaunchTemplate", "Subnets"}},
		{"both template id and name", func(c *ec2fleet.Config) { c.LaunchTemplate.Name = "x" }, []string{"LaunchTemplate: set ID or Name, not both"}},
		{"duplicate subnet", func(c *ec2fleet.Config) { c.Subnets = []string{"subnet-a", "subnet-a"} }, []string{"Subnets[1]"}},
		{"empty subnet", func(c *ec2fleet.Config) { c.Subnets = []string{""} }, []string{"Subnets[0] is empty"}},
		{"unknown strategy", func(c *ec2fleet.Config) { c.Strategy = "cheapest" }, []string{`Strategy "cheapest"`}},
		{"spot share above 1", func(c *ec2fleet.Config) { c.SpotShare = 1.5 }, []string{"SpotShare"}},
		{"negative avoid", func(c *ec2fleet.Config) { c.AvoidFor = -time.Second }, []string{"AvoidFor"}},
		{"extra tag overrides cluster", func(c *ec2fleet.Config) { c.ExtraTags = map[string]string{ec2fleet.TagCluster: "x"} }, []string{"ExtraTags"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			_, err := ec2fleet.New(cfg)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted an invalid config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLaunchChoosesMarketsAndZones(t *testing.T) {
	spot := func(z string) runCall { return runCall{Zone: "eu-west-1" + z, Market: "spot"} }
	od := func(z string) runCall { return runCall{Zone: "eu-west-1" + z, Market: "on-demand"} }
	for _, tc := range []struct {
		name     string
		mod      func(*ec2fleet.Config)
		existing int // instances launched before, by a default provider
		count    int
		want     []runCall // the calls of the second launch
	}{
		{"default 70% spot, 3 of 3", nil, 0, 3, []runCall{spot("a"), spot("b"), od("a")}},
		{"default 70% spot, 1 of 1", nil, 0, 1, []runCall{spot("a")}},
		{"default 70% spot keeps the fleet's share", nil, 3, 1, []runCall{spot("b")}},
		{"default 70% spot: a fleet of 1 spot gets an on-demand second", nil, 1, 1, []runCall{od("b")}},
		{"half spot, 4", func(c *ec2fleet.Config) { c.SpotShare = 0.5 }, 0, 4, []runCall{spot("a"), spot("b"), od("a"), od("b")}},
		{"spot first", func(c *ec2fleet.Config) { c.Strategy = ec2fleet.StrategySpotFirst }, 0, 3, []runCall{spot("a"), spot("b"), spot("a")}},
		{"on demand only", func(c *ec2fleet.Config) { c.Strategy = ec2fleet.StrategyOnDemand }, 0, 2, []runCall{od("a"), od("b")}},
		{"three zones, fewest first", func(c *ec2fleet.Config) {
			c.Subnets = []string{"subnet-a", "subnet-b", "subnet-c"}
			c.Strategy = ec2fleet.StrategyOnDemand
		}, 0, 4, []runCall{od("a"), od("b"), od("c"), od("a")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEC2()
			ctx := context.Background()
			if tc.existing > 0 {
				pre := newFakeProvider(t, f, nil)
				if _, err := pre.Launch(ctx, autoscaler.LaunchRequest{OperationID: "before", Count: tc.existing}); err != nil {
					t.Fatal(err)
				}
				f.runs = nil
			}
			p := newFakeProvider(t, f, tc.mod)
			got, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op", Count: tc.count})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, f.calls()); diff != "" {
				t.Errorf("RunInstances calls (-want +got):\n%s", diff)
			}
			var gotMarkets, wantMarkets []string
			for i, in := range got {
				gotMarkets = append(gotMarkets, string(in.Market)+"@"+in.Zone)
				wantMarkets = append(wantMarkets, tc.want[i].Market+"@"+tc.want[i].Zone)
				if in.OperationID != "op" || in.Tags[ec2fleet.TagCluster] != "prod" || in.Tags[ec2fleet.TagManagedBy] != "node-fleet" || in.Tags["Name"] != "prod-worker" {
					t.Errorf("instance %s: operation %q, tags %v", in.ID, in.OperationID, in.Tags)
				}
			}
			if diff := cmp.Diff(wantMarkets, gotMarkets); diff != "" {
				t.Errorf("returned instances (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLaunchCapacityErrors(t *testing.T) {
	spot := func(z string) runCall { return runCall{Zone: "eu-west-1" + z, Market: "spot"} }
	od := func(z string) runCall { return runCall{Zone: "eu-west-1" + z, Market: "on-demand"} }
	// failIn fails calls for the given zone+market pairs ("a/spot"); "*"
	// stands for any zone or market.
	failIn := func(code string, where ...string) func(runCall) error {
		return func(c runCall) error {
			for _, w := range where {
				z, m, _ := strings.Cut(w, "/")
				if (z == "*" || "eu-west-1"+z == c.Zone) && (m == "*" || m == c.Market) {
					return apiErr(code)
				}
			}
			return nil
		}
	}
	for _, tc := range []struct {
		name      string
		strategy  ec2fleet.Strategy
		count     int
		fail      func(runCall) error
		wantCalls []runCall
		wantGot   []string // market@zone of the returned instances
		wantCap   bool     // error matches ErrInsufficientCapacity
	}{
		{"no spot capacity in a: spot in b", ec2fleet.StrategySpotFirst, 1,
			failIn("InsufficientInstanceCapacity", "a/spot"),
			[]runCall{spot("a"), spot("b")}, []string{"spot@eu-west-1b"}, false},
		{"spot price too low everywhere: on demand", ec2fleet.StrategySpotFirst, 2,
			failIn("SpotMaxPriceTooLow", "*/spot"),
			[]runCall{spot("a"), spot("b"), od("a"), od("b")}, []string{"on-demand@eu-west-1a", "on-demand@eu-west-1b"}, false},
		{"spot limit is account wide: one spot try", ec2fleet.StrategySpotFirst, 2,
			failIn("MaxSpotInstanceCountExceeded", "*/spot"),
			[]runCall{spot("a"), od("a"), od("b")}, []string{"on-demand@eu-west-1a", "on-demand@eu-west-1b"}, false},
		{"subnet out of addresses: zone avoided for both markets", ec2fleet.StrategySpotFirst, 2,
			failIn("InsufficientFreeAddressesInSubnet", "a/*"),
			[]runCall{spot("a"), spot("b"), spot("b")}, []string{"spot@eu-west-1b", "spot@eu-west-1b"}, false},
		{"on-demand in b refused: a takes both", ec2fleet.StrategyOnDemand, 2,
			failIn("InsufficientInstanceCapacity", "b/on-demand"),
			[]runCall{od("a"), od("b"), od("a")}, []string{"on-demand@eu-west-1a", "on-demand@eu-west-1a"}, false},
		{"unsupported type in a", ec2fleet.StrategyOnDemand, 1,
			failIn("Unsupported", "a/*"),
			[]runCall{od("a"), od("b")}, []string{"on-demand@eu-west-1b"}, false},
		{"vCPU limit: nothing anywhere", ec2fleet.StrategyOnDemand, 2,
			failIn("VcpuLimitExceeded", "*/*"),
			[]runCall{od("a")}, nil, true},
		{"no capacity at all", ec2fleet.StrategySpotFirst, 2,
			failIn("InsufficientInstanceCapacity", "*/*"),
			[]runCall{spot("a"), spot("b"), od("a"), od("b")}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEC2()
			f.runErr = tc.fail
			p := newFakeProvider(t, f, func(c *ec2fleet.Config) { c.Strategy = tc.strategy })
			got, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op", Count: tc.count})
			if errors.Is(err, autoscaler.ErrInsufficientCapacity) != tc.wantCap {
				t.Fatalf("err = %v, want ErrInsufficientCapacity: %v", err, tc.wantCap)
			}
			if !tc.wantCap && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if diff := cmp.Diff(tc.wantCalls, f.calls()); diff != "" {
				t.Errorf("RunInstances calls (-want +got):\n%s", diff)
			}
			var markets []string
			for _, in := range got {
				markets = append(markets, string(in.Market)+"@"+in.Zone)
			}
			if diff := cmp.Diff(tc.wantGot, markets); diff != "" {
				t.Errorf("instances (-want +got):\n%s", diff)
			}
			if tc.wantCap {
				var ce *ec2fleet.CapacityError
				if !errors.As(err, &ce) {
					t.Fatalf("error %T is no *CapacityError", err)
				}
				if ce.Wanted != tc.count || ce.Have != len(got) || len(ce.Failures) != len(tc.wantCalls) {
					t.Errorf("CapacityError: wanted %d have %d failures %d; want %d, %d, %d", ce.Wanted, ce.Have, len(ce.Failures), tc.count, len(got), len(tc.wantCalls))
				}
			}
		})
	}
}

func TestCapacityAvoidWindow(t *testing.T) {
	f := newFakeEC2()
	clk := testingclock.NewFakePassiveClock(t0)
	full := true
	f.runErr = func(c runCall) error {
		if full && c.Zone == "eu-west-1a" && c.Market == "spot" {
			return apiErr("InsufficientInstanceCapacity")
		}
		return nil
	}
	p := newFakeProvider(t, f, func(c *ec2fleet.Config) {
		c.Strategy = ec2fleet.StrategySpotFirst
		c.Clock = clk
		c.AvoidFor = 3 * time.Minute
	})
	ctx := context.Background()
	launch := func(op string) []runCall {
		t.Helper()
		f.runs = nil
		if _, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: op, Count: 1}); err != nil {
			t.Fatal(err)
		}
		return f.calls()
	}
	spot := func(z string) runCall { return runCall{Zone: "eu-west-1" + z, Market: "spot"} }
	// 1st: a refuses, b gives. The fleet now has 1 in b, so a has fewest.
	if diff := cmp.Diff([]runCall{spot("a"), spot("b")}, launch("op1")); diff != "" {
		t.Errorf("first launch (-want +got):\n%s", diff)
	}
	// 2nd, within the window: a is not asked again.
	clk.SetTime(t0.Add(3*time.Minute - time.Second))
	if diff := cmp.Diff([]runCall{spot("b")}, launch("op2")); diff != "" {
		t.Errorf("launch inside the avoid window (-want +got):\n%s", diff)
	}
	// After the window, a (fewest instances) is tried again and works.
	full = false
	clk.SetTime(t0.Add(3 * time.Minute))
	if diff := cmp.Diff([]runCall{spot("a")}, launch("op3")); diff != "" {
		t.Errorf("launch after the avoid window (-want +got):\n%s", diff)
	}
}

func TestLaunchWhileEverythingIsAvoidedMakesNoCall(t *testing.T) {
	f := newFakeEC2()
	f.runErr = func(runCall) error { return apiErr("InsufficientInstanceCapacity") }
	p := newFakeProvider(t, f, func(c *ec2fleet.Config) { c.Strategy = ec2fleet.StrategyOnDemand })
	ctx := context.Background()
	if _, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op1", Count: 1}); !errors.Is(err, autoscaler.ErrInsufficientCapacity) {
		t.Fatalf("first launch: %v", err)
	}
	f.runs = nil
	_, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op2", Count: 1})
	var ce *ec2fleet.CapacityError
	if !errors.As(err, &ce) || !errors.Is(err, autoscaler.ErrInsufficientCapacity) {
		t.Fatalf("second launch: %v, want a *CapacityError", err)
	}
	if len(f.calls()) != 0 {
		t.Errorf("RunInstances called %d times while every zone is avoided", len(f.calls()))
	}
	if want := t0.Add(5 * time.Minute); !ce.AvoidedUntil.Equal(want) || !strings.Contains(err.Error(), "avoided") {
		t.Errorf("AvoidedUntil %s (want %s), error %q", ce.AvoidedUntil, want, err)
	}
}

func TestThrottlingIsReturnedNotRetried(t *testing.T) {
	// The SDK's retryer (on the real client) has already retried when an
	// error reaches the provider; the provider must not loop again.
	f := newFakeEC2()
	f.runErr = func(runCall) error { return apiErr("RequestLimitExceeded") }
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

func TestListErrorsAreReturned(t *testing.T) {
	f := newFakeEC2()
	f.describeErr = apiErr("Throttling")
	p := newFakeProvider(t, f, nil)
	if _, err := p.List(context.Background()); err == nil || !strings.Contains(err.Error(), "Throttling") {
		t.Errorf("List: %v", err)
	}
	if _, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op", Count: 1}); err == nil {
		t.Errorf("Launch succeeded without being able to look for the operation's instances")
	}
	if len(f.calls()) != 0 {
		t.Errorf("Launch called RunInstances without knowing what the operation already has")
	}
	if err := p.Terminate(context.Background(), []string{"i-1"}); err == nil {
		t.Errorf("Terminate succeeded without being able to check the tags")
	}
}

func TestLaunchRequestValidation(t *testing.T) {
	p := newFakeProvider(t, newFakeEC2(), nil)
	for _, req := range []autoscaler.LaunchRequest{{Count: 1}, {OperationID: "op", Count: -1}} {
		if _, err := p.Launch(context.Background(), req); err == nil {
			t.Errorf("Launch(%+v) accepted", req)
		}
	}
	got, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op", Count: 0})
	if err != nil || len(got) != 0 {
		t.Errorf("Launch of 0: %v, %v", got, err)
	}
}

func TestClientTokenIsDeterministic(t *testing.T) {
	tokens := func() []string {
		f := newFakeEC2()
		p := newFakeProvider(t, f, nil)
		if _, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "prod-7-up", Count: 3}); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range f.runs {
			out = append(out, c.Token)
		}
		return out
	}
	first, second := tokens(), tokens()
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("the same plan gave other tokens (-first +second):\n%s", diff)
	}
	seen := map[string]bool{}
	for _, tok := range first {
		if len(tok) == 0 || len(tok) > 64 || seen[tok] {
			t.Errorf("token %q: empty, too long for EC2 or repeated within the operation", tok)
		}
		seen[tok] = true
	}
}

func TestListReportsMarketOperationAndInterruption(t *testing.T) {
	f := newFakeEC2()
	notice := t0.Add(-time.Minute)
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	managed := tag(ec2fleet.TagManagedBy, ec2fleet.ManagedByValue)
	f.instances = []types.Instance{
		{InstanceId: aws.String("i-1"), InstanceLifecycle: types.InstanceLifecycleTypeSpot, State: &types.InstanceState{Name: "running"},
			Placement: &types.Placement{AvailabilityZone: aws.String("eu-west-1a")},
			Tags:      []types.Tag{managed, tag(ec2fleet.TagCluster, "prod"), tag(ec2fleet.TagOperation, "op-1"), tag(ec2fleet.TagInterruptionNotice, notice.Format(time.RFC3339))}},
		{InstanceId: aws.String("i-2"), State: &types.InstanceState{Name: "stopped"},
			Tags: []types.Tag{managed, tag(ec2fleet.TagCluster, "prod")}},
		{InstanceId: aws.String("i-3"), State: &types.InstanceState{Name: "terminated"},
			Tags: []types.Tag{managed, tag(ec2fleet.TagCluster, "prod")}},
		{InstanceId: aws.String("i-4"), State: &types.InstanceState{Name: "running"},
			Tags: []types.Tag{managed, tag(ec2fleet.TagCluster, "staging")}},
		// The K3s server: the cluster's tag, not managed-by.
		{InstanceId: aws.String("i-5"), State: &types.InstanceState{Name: "running"},
			Tags: []types.Tag{tag(ec2fleet.TagCluster, "prod"), tag("node-fleet.io/role", "k3s-server")}},
	}
	p := newFakeProvider(t, f, nil)
	got, err := p.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		ID     string
		Market autoscaler.Market
		State  autoscaler.InstanceState
		Op     string
		Notice time.Time
	}
	var views []view
	for _, in := range got {
		views = append(views, view{in.ID, in.Market, in.State, in.OperationID, in.InterruptionNotice})
	}
	want := []view{
		{"i-1", autoscaler.MarketSpot, autoscaler.StateRunning, "op-1", notice},
		{"i-2", autoscaler.MarketOnDemand, autoscaler.StateStopped, "", time.Time{}},
	}
	if diff := cmp.Diff(want, views); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func TestTerminateLooksUpManyIDsInChunks(t *testing.T) {
	f := newFakeEC2()
	p := newFakeProvider(t, f, func(c *ec2fleet.Config) { c.Strategy = ec2fleet.StrategyOnDemand })
	ctx := context.Background()
	got, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op", Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	// 450 ids, of which 3 are ours and the rest unknown (already gone).
	ids := []string{got[0].ID, got[1].ID, got[2].ID}
	for i := range 447 {
		ids = append(ids, fmt.Sprintf("i-gone%04d", i))
	}
	if err := p.Terminate(ctx, ids); err != nil {
		t.Fatal(err)
	}
	listed, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 0 {
		t.Errorf("%d instances left after terminating all of them", len(listed))
	}
}

// An instance with the cluster's tag but not managed-by (the K3s server,
// as the deploy tags it) is refused; the cluster's workers given in the
// same call are still terminated.
func TestTerminateRefusesInstancesWithTheClusterTagAlone(t *testing.T) {
	f := newFakeEC2()
	p := newFakeProvider(t, f, func(c *ec2fleet.Config) { c.Strategy = ec2fleet.StrategyOnDemand })
	ctx := context.Background()
	workers, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	f.instances = append(f.instances,
		types.Instance{InstanceId: aws.String("i-server"), State: &types.InstanceState{Name: "running"},
			Tags: []types.Tag{tag("Name", "prod-server"), tag(ec2fleet.TagCluster, "prod"), tag("node-fleet.io/role", "k3s-server")}},
		types.Instance{InstanceId: aws.String("i-bymanagedby"), State: &types.InstanceState{Name: "running"},
			Tags: []types.Tag{tag(ec2fleet.TagManagedBy, ec2fleet.ManagedByValue)}})
	err = p.Terminate(ctx, []string{"i-server", "i-bymanagedby", workers[0].ID})
	if !errors.Is(err, autoscaler.ErrNotManaged) {
		t.Fatalf("err = %v, want ErrNotManaged", err)
	}
	for _, id := range []string{"i-server", "i-bymanagedby"} {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("error %q does not name %s", err, id)
		}
	}
	states := map[string]types.InstanceStateName{}
	for _, in := range f.instances {
		states[aws.ToString(in.InstanceId)] = in.State.Name
	}
	want := map[string]types.InstanceStateName{workers[0].ID: "terminated", "i-server": "running", "i-bymanagedby": "running"}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}
