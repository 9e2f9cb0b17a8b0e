package ec2fleet_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/testenv"
)

// motoEnv is a VPC with two subnets in two zones and a launch template, in
// moto, named uniquely so that tests running at the same time (also from
// other packages) against the same moto do not see each other.
type motoEnv struct {
	client       *ec2.Client
	cluster      string
	subnets      []string
	zones        []string
	templateID   string
	templateName string
	image        string
}

func randSuffix(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func newMotoEnv(t *testing.T) *motoEnv {
	t.Helper()
	return newMotoEnvZones(t, "us-east-1a", "us-east-1b")
}

// newMotoEnvZones is newMotoEnv with a subnet in each of zones.
func newMotoEnvZones(t *testing.T, zones ...string) *motoEnv {
	t.Helper()
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	ctx := context.Background()
	cfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c := ec2.NewFromConfig(cfg)
	e := &motoEnv{client: c, cluster: "test-" + randSuffix(t), zones: zones}
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("describe images: %v (%d images)", err, len(imgs.Images))
	}
	e.image = aws.ToString(imgs.Images[0].ImageId)
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	for i, z := range e.zones {
		s, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{
			VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String(z),
			CidrBlock: aws.String(fmt.Sprintf("10.20.%d.0/24", i+1)),
		})
		if err != nil {
			t.Fatal(err)
		}
		e.subnets = append(e.subnets, aws.ToString(s.Subnet.SubnetId))
	}
	e.templateName = "lt-" + e.cluster
	lt, err := c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(e.templateName),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(e.image), InstanceType: types.InstanceTypeT3Medium},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.templateID = aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
	return e
}

// describeCluster returns what EC2 itself says about the cluster's
// instances, bypassing the provider.
func (e *motoEnv) describeCluster(t *testing.T) []types.Instance {
	t.Helper()
	out, err := e.client.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{
		Filters: []types.Filter{{Name: aws.String("tag:node-fleet.io/cluster"), Values: []string{e.cluster}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ins []types.Instance
	for _, r := range out.Reservations {
		ins = append(ins, r.Instances...)
	}
	slices.SortFunc(ins, func(a, b types.Instance) int {
		if aws.ToString(a.InstanceId) < aws.ToString(b.InstanceId) {
			return -1
		}
		return 1
	})
	return ins
}

// recorder wraps a Client and records every CreateFleet call. short, when
// set, plays EC2 with some pools out of capacity (moto always has
// capacity): each market's part of a call is passed to moto with only the
// pools that have capacity, and the others are answered with an
// InsufficientInstanceCapacity entry each, as EC2 answers an instant
// fleet. after, when set, may replace a successful answer by an error (the
// answer was lost: the instances exist all the same).
type recorder struct {
	ec2fleet.Client
	zoneOf map[string]string // subnet -> zone
	mu     sync.Mutex
	fleets []*ec2.CreateFleetInput
	short  func(pool string) bool // "t3.large@us-east-1a/spot"
	after  func(n int) error
}

func (e *motoEnv) recorder() *recorder {
	r := &recorder{Client: e.client, zoneOf: map[string]string{}}
	for i, s := range e.subnets {
		r.zoneOf[s] = e.zones[i]
	}
	return r
}

func (r *recorder) CreateFleet(ctx context.Context, in *ec2.CreateFleetInput, opts ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	r.mu.Lock()
	r.fleets = append(r.fleets, in)
	n := len(r.fleets)
	short, after := r.short, r.after
	r.mu.Unlock()
	var out *ec2.CreateFleetOutput
	var err error
	if short == nil {
		out, err = r.Client.CreateFleet(ctx, in, opts...)
	} else {
		out, err = r.createShort(ctx, in, short, opts...)
	}
	if err == nil && after != nil {
		if aerr := after(n); aerr != nil {
			return nil, aerr
		}
	}
	return out, err
}

func (r *recorder) createShort(ctx context.Context, in *ec2.CreateFleetInput, short func(string) bool, opts ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	out := &ec2.CreateFleetOutput{}
	tc := in.TargetCapacitySpecification
	for _, part := range []struct {
		market    string
		n         int32
		lifecycle types.InstanceLifecycle
	}{{"spot", aws.ToInt32(tc.SpotTargetCapacity), types.InstanceLifecycleSpot}, {"on-demand", aws.ToInt32(tc.OnDemandTargetCapacity), types.InstanceLifecycleOnDemand}} {
		if part.n == 0 {
			continue
		}
		var ok []types.FleetLaunchTemplateOverridesRequest
		for _, o := range in.LaunchTemplateConfigs[0].Overrides {
			typ := cmp.Or(string(o.InstanceType), "t3.medium")
			if short(typ + "@" + r.zoneOf[aws.ToString(o.SubnetId)] + "/" + part.market) {
				out.Errors = append(out.Errors, types.CreateFleetError{
					ErrorCode: aws.String("InsufficientInstanceCapacity"), ErrorMessage: aws.String("no capacity (test)"), Lifecycle: part.lifecycle,
					LaunchTemplateAndOverrides: &types.LaunchTemplateAndOverridesResponse{Overrides: &types.FleetLaunchTemplateOverrides{
						SubnetId: o.SubnetId, InstanceType: types.InstanceType(typ)}}})
				continue
			}
			ok = append(ok, o)
		}
		if len(ok) == 0 {
			continue
		}
		one := *in
		one.LaunchTemplateConfigs = []types.FleetLaunchTemplateConfigRequest{{LaunchTemplateSpecification: in.LaunchTemplateConfigs[0].LaunchTemplateSpecification, Overrides: ok}}
		one.TargetCapacitySpecification = &types.TargetCapacitySpecificationRequest{TotalTargetCapacity: aws.Int32(part.n)}
		if part.market == "spot" {
			one.TargetCapacitySpecification.SpotTargetCapacity = aws.Int32(part.n)
			one.TargetCapacitySpecification.DefaultTargetCapacityType = types.DefaultTargetCapacityTypeSpot
			one.OnDemandOptions = nil
		} else {
			one.TargetCapacitySpecification.OnDemandTargetCapacity = aws.Int32(part.n)
			one.TargetCapacitySpecification.DefaultTargetCapacityType = types.DefaultTargetCapacityTypeOnDemand
			one.SpotOptions = nil
		}
		got, err := r.Client.CreateFleet(ctx, &one, opts...)
		if err != nil {
			return nil, err
		}
		out.FleetId = got.FleetId
		out.Instances = append(out.Instances, got.Instances...)
	}
	return out, nil
}

func (r *recorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.fleets)
}

// pools returns the pools ("type@zone") call i offered.
func (r *recorder) pools(i int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, o := range r.fleets[i].LaunchTemplateConfigs[0].Overrides {
		out = append(out, cmp.Or(string(o.InstanceType), "-")+"@"+r.zoneOf[aws.ToString(o.SubnetId)])
	}
	return out
}

func (e *motoEnv) provider(t *testing.T, client ec2fleet.Client, mod func(*ec2fleet.Config)) *ec2fleet.Provider {
	t.Helper()
	if client == nil {
		client = e.client
	}
	cfg := ec2fleet.Config{
		ClusterID:      e.cluster,
		Client:         client,
		LaunchTemplate: ec2fleet.LaunchTemplate{ID: e.templateID},
		Subnets:        e.subnets,
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

// described is what the tests compare of an instance as EC2 reports it.
type described struct {
	Type, Zone, Lifecycle, Cluster, ManagedBy, Name, Operation string
}

func describeView(ins []types.Instance) []described {
	var out []described
	for _, in := range ins {
		tags := map[string]string{}
		for _, t := range in.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		out = append(out, described{
			Type: string(in.InstanceType), Zone: aws.ToString(in.Placement.AvailabilityZone), Lifecycle: string(in.InstanceLifecycle),
			Cluster: tags[ec2fleet.TagCluster], ManagedBy: tags[ec2fleet.TagManagedBy], Name: tags["Name"], Operation: tags[ec2fleet.TagOperation],
		})
	}
	slices.SortFunc(out, func(a, b described) int {
		return strings.Compare(a.Zone+a.Type+a.Lifecycle, b.Zone+b.Type+b.Lifecycle)
	})
	return out
}

var motoTypes = []string{"t3.medium", "t3.large", "m5.large"}

// A launch of n is one CreateFleet call per zone that together return n
// instances, each in an allowed pool (type x zone), tagged, spot and
// on-demand as the spot share says. moto implements instant fleets, but
// allocates every strategy except "diversified" to the first override (it
// knows no spot prices nor capacity); with diversified it takes the
// overrides in turn, which shows that every type reached it.
func TestMotoLaunchOfNIsOneFleetCallPerZone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		count  int
		mod    func(e *motoEnv, c *ec2fleet.Config)
		spread bool // moto spreads over zones and types
	}{
		{"price-capacity-optimized, template by id", 4, func(e *motoEnv, c *ec2fleet.Config) {}, false},
		{"template by name at $Latest", 2, func(e *motoEnv, c *ec2fleet.Config) {
			c.LaunchTemplate = ec2fleet.LaunchTemplate{Name: e.templateName, Version: "$Latest"}
		}, false},
		{"diversified", 6, func(e *motoEnv, c *ec2fleet.Config) {
			c.SpotAllocationStrategy = types.SpotAllocationStrategyDiversified
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newMotoEnv(t)
			rec := e.recorder()
			p := e.provider(t, rec, func(c *ec2fleet.Config) {
				c.InstanceTypes, c.SpotShare = motoTypes, 0.5
				tc.mod(e, c)
			})
			ctx := context.Background()
			got, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op-n", Count: tc.count})
			if err != nil {
				t.Fatal(err)
			}
			if rec.calls() != len(e.subnets) || len(got) != tc.count {
				t.Fatalf("Launch returned %d instances after %d CreateFleet calls, want %d after %d", len(got), rec.calls(), tc.count, len(e.subnets))
			}
			allowed := map[string]bool{}
			for i := range rec.calls() {
				for _, pool := range rec.pools(i) {
					allowed[pool] = true
				}
				if len(rec.pools(i)) != len(motoTypes) {
					t.Errorf("call %d offered %v, want every type in its zone's subnet", i, rec.pools(i))
				}
			}
			if len(allowed) != len(motoTypes)*len(e.subnets) {
				t.Errorf("the calls offered %v, want every type in every subnet", allowed)
			}
			ec2view := describeView(e.describeCluster(t))
			zones, typesSeen, lifecycles := map[string]bool{}, map[string]bool{}, map[string]int{}
			name := e.cluster + "-worker"
			for _, d := range ec2view {
				if !allowed[d.Type+"@"+d.Zone] {
					t.Errorf("instance %+v is in a pool the call did not offer", d)
				}
				if d.Cluster != e.cluster || d.ManagedBy != "node-fleet" || d.Name != name || d.Operation != "op-n" {
					t.Errorf("instance %+v is not tagged as the provider tags", d)
				}
				zones[d.Zone], typesSeen[d.Type] = true, true
				lifecycles[d.Lifecycle]++
			}
			if diff := gocmp.Diff(map[string]int{"spot": tc.count / 2, "": tc.count - tc.count/2}, lifecycles); diff != "" {
				t.Errorf("lifecycles as EC2 describes them (-want +got):\n%s", diff)
			}
			if tc.spread && (len(zones) != 2 || len(typesSeen) < 2) {
				t.Errorf("diversified: zones %v, types %v; want both zones and several types", zones, typesSeen)
			}
			// What Launch and List report agrees with EC2.
			listed, err := p.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(ids(got), ids(listed)); diff != "" {
				t.Errorf("Launch and List disagree (-launch +list):\n%s", diff)
			}
			byID := map[string]autoscaler.Instance{}
			for _, in := range listed {
				byID[in.ID] = in
			}
			for _, in := range got {
				l := byID[in.ID]
				if in.Market != l.Market || in.Zone != l.Zone || in.InstanceType != l.InstanceType || in.PrivateIP == "" || in.OperationID != "op-n" {
					t.Errorf("Launch said %+v, List says %+v", in, l)
				}
			}
			// A fleet of mixed types: terminating one type's instances
			// leaves the others listed.
			var doomed, kept []string
			for _, in := range listed {
				if in.InstanceType == listed[0].InstanceType {
					doomed = append(doomed, in.ID)
				} else {
					kept = append(kept, in.ID)
				}
			}
			if err := p.Terminate(ctx, doomed); err != nil {
				t.Fatal(err)
			}
			after, err := p.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(kept, ids(after), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("List after terminating the %s instances (-want +got):\n%s", listed[0].InstanceType, diff)
			}
		})
	}
}

// A pool that answers with a capacity error is left out of the next
// launch, also by a new provider reading the saved pools (a cold start);
// a provider without them offers it again.
func TestMotoUnavailablePoolIsAvoidedAlsoAfterAColdStart(t *testing.T) {
	e := newMotoEnv(t)
	ctx := context.Background()
	memory := &ec2fleet.MemoryPools{}
	rec := e.recorder()
	rec.short = func(pool string) bool { return pool == "t3.medium@us-east-1a/spot" }
	spotFirst := func(c *ec2fleet.Config) {
		c.InstanceTypes, c.Strategy, c.Pools = motoTypes[:2], ec2fleet.StrategySpotFirst, memory
	}
	got, err := e.provider(t, rec, spotFirst).Launch(ctx, autoscaler.LaunchRequest{OperationID: "op-1", Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range got {
		if in.InstanceType+"@"+in.Zone == "t3.medium@us-east-1a" || in.Market != autoscaler.MarketSpot {
			t.Errorf("instance %s: %s %s@%s, want spot outside the short pool", in.ID, in.Market, in.InstanceType, in.Zone)
		}
	}
	saved, err := memory.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) != 1 || saved[0].Pool != (ec2fleet.Pool{InstanceType: "t3.medium", Zone: "us-east-1a", Market: autoscaler.MarketSpot}) {
		t.Fatalf("saved pools %+v, want the short pool", saved)
	}

	// A cold start: a new provider, a new client, the saved pools, a
	// launch for zone a.
	rec2 := e.recorder()
	zoneA := []string{"us-east-1a"}
	if _, err := e.provider(t, rec2, spotFirst).Launch(ctx, autoscaler.LaunchRequest{OperationID: "op-2", Count: 1, Zones: zoneA}); err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{"t3.large@us-east-1a"}, rec2.pools(0)); diff != "" {
		t.Errorf("pools offered after the cold start (-want +got):\n%s", diff)
	}
	// Without the saved pools, the short pool would be asked again.
	rec3 := e.recorder()
	if _, err := e.provider(t, rec3, func(c *ec2fleet.Config) {
		spotFirst(c)
		c.Pools = nil
	}).Launch(ctx, autoscaler.LaunchRequest{OperationID: "op-3", Count: 1, Zones: zoneA}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rec3.pools(0), "t3.medium@us-east-1a") {
		t.Errorf("a provider without the saved pools offered %v", rec3.pools(0))
	}
}

func TestMotoSpotFallsBackToOnDemand(t *testing.T) {
	e := newMotoEnv(t)
	rec := e.recorder()
	rec.short = func(pool string) bool { return strings.HasSuffix(pool, "/spot") }
	p := e.provider(t, rec, func(c *ec2fleet.Config) { c.Strategy = ec2fleet.StrategySpotFirst })
	got, err := p.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op-fallback", Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range got {
		if in.Market != autoscaler.MarketOnDemand {
			t.Errorf("instance %s reported as %s, want on-demand", in.ID, in.Market)
		}
	}
	if len(got) != 2 || rec.calls() != 4 {
		t.Errorf("%d instances after %d CreateFleet calls, want 2 after 4 (spot, then on-demand, in each zone)", len(got), rec.calls())
	}
	for _, d := range describeView(e.describeCluster(t)) {
		if d.Lifecycle != "" || d.Operation != "op-fallback" {
			t.Errorf("instance %+v, want on-demand of op-fallback", d)
		}
	}
}

func TestMotoTerminateOnlyTouchesTheClustersInstances(t *testing.T) {
	e := newMotoEnv(t)
	ctx := context.Background()
	p := e.provider(t, nil, nil)
	mine, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op-term", Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	// An instance of another cluster and an untagged one, in the same
	// account and subnet.
	other := e.provider(t, nil, func(c *ec2fleet.Config) { c.ClusterID = e.cluster + "-other" })
	theirs, err := other.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op-other", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	bare, err := e.client.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(e.image), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(e.subnets[0])})
	if err != nil {
		t.Fatal(err)
	}
	bareID := aws.ToString(bare.Instances[0].InstanceId)

	err = p.Terminate(ctx, []string{mine[0].ID, theirs[0].ID, bareID, "i-0000000000000dead"})
	if !errors.Is(err, autoscaler.ErrNotManaged) {
		t.Fatalf("Terminate with foreign ids: err = %v, want ErrNotManaged", err)
	}
	for _, id := range []string{theirs[0].ID, bareID} {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("error %q does not name %s", err, id)
		}
	}
	states := stateOf(t, e.client, mine[0].ID, mine[1].ID, theirs[0].ID, bareID)
	want := map[string]types.InstanceStateName{
		mine[0].ID: types.InstanceStateNameTerminated, mine[1].ID: types.InstanceStateNameRunning,
		theirs[0].ID: types.InstanceStateNameRunning, bareID: types.InstanceStateNameRunning,
	}
	if diff := gocmp.Diff(want, states); diff != "" {
		t.Errorf("states after Terminate (-want +got):\n%s", diff)
	}
	// Terminating again (already gone) and an empty list are no errors.
	if err := p.Terminate(ctx, []string{mine[0].ID}); err != nil {
		t.Errorf("second Terminate: %v", err)
	}
	if err := p.Terminate(ctx, nil); err != nil {
		t.Errorf("empty Terminate: %v", err)
	}
	listed, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{mine[1].ID}, ids(listed)); diff != "" {
		t.Errorf("List after Terminate (-want +got):\n%s", diff)
	}
}

// The deploy tags the K3s server instance with the cluster's tag, as it
// tags every resource (deploy's TestServerInstanceIsNotInTheFleet checks
// these exact tags), but not with managed-by. Listed or terminated by the
// cluster tag alone, the server counted as a booting worker and was
// terminated as a ghost after the join timeout.
func TestMotoServerTaggedAsDeployTagsItIsNeverInTheFleet(t *testing.T) {
	e := newMotoEnv(t)
	ctx := context.Background()
	serverTags := []types.Tag{
		{Key: aws.String("Name"), Value: aws.String(e.cluster + "-server")},
		{Key: aws.String(ec2fleet.TagCluster), Value: aws.String(e.cluster)},
		{Key: aws.String("node-fleet.io/role"), Value: aws.String("k3s-server")},
	}
	srv, err := e.client.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(e.image), InstanceType: types.InstanceTypeT3Medium, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId:          aws.String(e.subnets[0]),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: serverTags}},
	})
	if err != nil {
		t.Fatal(err)
	}
	server := aws.ToString(srv.Instances[0].InstanceId)
	p := e.provider(t, nil, nil)
	workers, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op-workers", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	listed, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(ids(workers), ids(listed)); diff != "" {
		t.Errorf("List (-the workers +listed):\n%s", diff)
	}
	// A provider that only reads (a new process) does not see it either.
	listed, err = e.provider(t, nil, nil).List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ids(listed), server) {
		t.Errorf("a fresh provider lists the server %s", server)
	}

	err = p.Terminate(ctx, []string{server, workers[0].ID})
	if !errors.Is(err, autoscaler.ErrNotManaged) || !strings.Contains(err.Error(), server) {
		t.Fatalf("Terminate(server, worker): err = %v, want ErrNotManaged naming %s", err, server)
	}
	if strings.Contains(err.Error(), workers[0].ID) {
		t.Errorf("error %q names the worker, which was the provider's to terminate", err)
	}
	want := map[string]types.InstanceStateName{server: types.InstanceStateNameRunning, workers[0].ID: types.InstanceStateNameTerminated}
	if diff := gocmp.Diff(want, stateOf(t, e.client, server, workers[0].ID)); diff != "" {
		t.Errorf("states after Terminate (-want +got):\n%s", diff)
	}
}

func TestMotoRetriedLaunchDoesNotLaunchTwice(t *testing.T) {
	ctx := context.Background()
	t.Run("the answer was lost", func(t *testing.T) {
		e := newMotoEnv(t)
		// CreateFleet succeeds in EC2 but its answer is lost, as when a
		// Lambda times out right after asking.
		lost := errors.New("connection reset by peer")
		// The last of the two zones' calls is lost.
		rec := e.recorder()
		rec.after = func(n int) error {
			if n == 2 {
				return lost
			}
			return nil
		}
		req := autoscaler.LaunchRequest{OperationID: "op-retry", Count: 3}
		got, err := e.provider(t, rec, nil).Launch(ctx, req)
		if !errors.Is(err, lost) || len(got) != 2 {
			t.Fatalf("first Launch: %d instances, err %v; want zone a's 2 and the lost answer", len(got), err)
		}
		if n := len(e.describeCluster(t)); n != 3 {
			t.Fatalf("EC2 has %d instances after the lost answer, want 3", n)
		}
		// The retry (a new provider: a new process) finds all three and
		// asks for nothing.
		rec2 := e.recorder()
		got, err = e.provider(t, rec2, nil).Launch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || rec2.calls() != 0 {
			t.Errorf("retried Launch returned %d instances after %d CreateFleet calls, want 3 after 0", len(got), rec2.calls())
		}
		if n := len(e.describeCluster(t)); n != 3 {
			t.Errorf("EC2 has %d instances, want exactly 3", n)
		}
	})
	t.Run("capacity ran out half way", func(t *testing.T) {
		e := newMotoEnv(t)
		// No on-demand capacity anywhere: of 1 spot and 1 on-demand,
		// only the spot instance is launched.
		rec := e.recorder()
		rec.short = func(pool string) bool { return strings.HasSuffix(pool, "/on-demand") }
		req := autoscaler.LaunchRequest{OperationID: "op-half", Count: 2}
		half := func(c *ec2fleet.Config) { c.SpotShare = 0.5 }
		got, err := e.provider(t, rec, half).Launch(ctx, req)
		if !errors.Is(err, autoscaler.ErrInsufficientCapacity) || len(got) != 1 {
			t.Fatalf("first Launch: %d instances, err %v; want 1 and a capacity error", len(got), err)
		}
		// The retry, in a new process with capacity back, launches only
		// the missing one, in one call.
		rec2 := e.recorder()
		p2 := e.provider(t, rec2, half)
		got2, err := p2.Launch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(got2) != 2 || rec2.calls() != 1 || !slices.Contains(ids(got2), got[0].ID) {
			t.Errorf("retried Launch returned %v after %d CreateFleet calls, want %s and one more after 1", ids(got2), rec2.calls(), got[0].ID)
		}
		if tc := rec2.fleets[0].TargetCapacitySpecification; aws.ToInt32(tc.TotalTargetCapacity) != 1 {
			t.Errorf("the retry asked for %d instances, want 1", aws.ToInt32(tc.TotalTargetCapacity))
		}
		// Once more: nothing is missing, nothing is launched.
		again, err := p2.Launch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if rec2.calls() != 1 {
			t.Errorf("a complete operation called CreateFleet again (%d calls)", rec2.calls())
		}
		if diff := gocmp.Diff(ids(got2), ids(again)); diff != "" {
			t.Errorf("second retry returned other instances (-first +second):\n%s", diff)
		}
		if n := len(e.describeCluster(t)); n != 2 {
			t.Errorf("EC2 has %d instances, want exactly 2", n)
		}
	})
}

func ids(ins []autoscaler.Instance) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.ID
	}
	slices.Sort(out)
	return out
}

func stateOf(t *testing.T, c *ec2.Client, want ...string) map[string]types.InstanceStateName {
	t.Helper()
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: want})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]types.InstanceStateName{}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			m[aws.ToString(in.InstanceId)] = in.State.Name
		}
	}
	return m
}
