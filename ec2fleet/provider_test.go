package ec2fleet_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
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
		{"type listed twice", func(c *ec2fleet.Config) { c.InstanceTypes = []string{"m5.large", "m5.large"} }, []string{"InstanceTypes[1]"}},
		{"empty type", func(c *ec2fleet.Config) { c.InstanceTypes = []string{""} }, []string{"InstanceTypes[0] is empty"}},
		{"requirements and types", func(c *ec2fleet.Config) {
			c.InstanceTypes = []string{"m5.large"}
			c.Requirements = &ec2fleet.Requirements{VCPUs: ec2fleet.Range{Min: 2}}
		}, []string{"Requirements: set Requirements or InstanceTypes, not both"}},
		{"requirements without vCPUs", func(c *ec2fleet.Config) { c.Requirements = &ec2fleet.Requirements{} }, []string{"Requirements.VCPUs"}},
		{"requirements, memory max below min", func(c *ec2fleet.Config) {
			c.Requirements = &ec2fleet.Requirements{VCPUs: ec2fleet.Range{Min: 2}, MemoryMiB: ec2fleet.Range{Min: 4096, Max: 1024}}
		}, []string{"Requirements.MemoryMiB"}},
		{"requirements with prioritized on-demand", func(c *ec2fleet.Config) {
			c.Requirements = &ec2fleet.Requirements{VCPUs: ec2fleet.Range{Min: 2}}
			c.OnDemandAllocationStrategy = types.FleetOnDemandAllocationStrategyPrioritized
		}, []string{"prioritized needs InstanceTypes"}},
		{"unknown spot allocation", func(c *ec2fleet.Config) { c.SpotAllocationStrategy = "cheapest" }, []string{`SpotAllocationStrategy "cheapest"`}},
		{"unknown on-demand allocation", func(c *ec2fleet.Config) { c.OnDemandAllocationStrategy = "lowestPrice" }, []string{`OnDemandAllocationStrategy "lowestPrice"`}},
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
		t.Errorf("Launch called CreateFleet without knowing what the operation already has")
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

// Config names the instance types in one field: one type is a list of one.
func TestConfigHasOneInstanceTypeField(t *testing.T) {
	var fields []string
	typ := reflect.TypeFor[ec2fleet.Config]()
	for i := range typ.NumField() {
		if strings.Contains(typ.Field(i).Name, "InstanceType") {
			fields = append(fields, typ.Field(i).Name)
		}
	}
	if diff := cmp.Diff([]string{"InstanceTypes"}, fields); diff != "" {
		t.Errorf("instance-type fields of Config (-want +got):\n%s", diff)
	}
}
