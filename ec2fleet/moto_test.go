package ec2fleet_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
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
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	ctx := context.Background()
	cfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c := ec2.NewFromConfig(cfg)
	e := &motoEnv{client: c, cluster: "test-" + randSuffix(t), zones: []string{"us-east-1a", "us-east-1b"}}
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
			CidrBlock: aws.String([]string{"10.20.1.0/24", "10.20.2.0/24"}[i]),
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

// recorder wraps a Client, counts RunInstances calls and can inject
// errors before or after the real call.
type recorder struct {
	ec2ClientAPI
	mu   sync.Mutex
	runs []*ec2.RunInstancesInput
	// before, when set, may refuse a call before it reaches EC2.
	before func(in *ec2.RunInstancesInput) error
	// after, when set, may replace a successful answer by an error (the
	// answer was lost: the instance exists all the same).
	after func(n int) error
}

type ec2ClientAPI interface {
	RunInstances(context.Context, *ec2.RunInstancesInput, ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
}

func (r *recorder) RunInstances(ctx context.Context, in *ec2.RunInstancesInput, opts ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	r.mu.Lock()
	r.runs = append(r.runs, in)
	n := len(r.runs)
	before, after := r.before, r.after
	r.mu.Unlock()
	if before != nil {
		if err := before(in); err != nil {
			return nil, err
		}
	}
	out, err := r.ec2ClientAPI.RunInstances(ctx, in, opts...)
	if err == nil && after != nil {
		if aerr := after(n); aerr != nil {
			return nil, aerr
		}
	}
	return out, err
}

func (r *recorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
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
	Zone, Lifecycle, Cluster, ManagedBy, Name, Operation string
}

func describeView(ins []types.Instance) []described {
	var out []described
	for _, in := range ins {
		tags := map[string]string{}
		for _, t := range in.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		out = append(out, described{
			Zone: aws.ToString(in.Placement.AvailabilityZone), Lifecycle: string(in.InstanceLifecycle),
			Cluster: tags[ec2fleet.TagCluster], ManagedBy: tags[ec2fleet.TagManagedBy], Name: tags["Name"], Operation: tags[ec2fleet.TagOperation],
		})
	}
	slices.SortFunc(out, func(a, b described) int {
		return strings.Compare(a.Zone+a.Lifecycle, b.Zone+b.Lifecycle)
	})
	return out
}

func TestMotoLaunchFromTemplateSpreadsZonesAndMarkets(t *testing.T) {
	for _, tc := range []struct {
		name string
		lt   func(e *motoEnv) ec2fleet.LaunchTemplate
	}{
		{"template by id", func(e *motoEnv) ec2fleet.LaunchTemplate {
			return ec2fleet.LaunchTemplate{ID: e.templateID, Version: "$Latest"}
		}},
		{"template by name", func(e *motoEnv) ec2fleet.LaunchTemplate { return ec2fleet.LaunchTemplate{Name: e.templateName} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newMotoEnv(t)
			p := e.provider(t, nil, func(c *ec2fleet.Config) {
				c.LaunchTemplate = tc.lt(e)
				c.SpotShare = 0.5
			})
			ctx := context.Background()
			got, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op-spread", Count: 4})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 4 {
				t.Fatalf("Launch returned %d instances, want 4", len(got))
			}
			name := e.cluster + "-worker"
			want := []described{
				{"us-east-1a", "", e.cluster, "node-fleet", name, "op-spread"},
				{"us-east-1a", "spot", e.cluster, "node-fleet", name, "op-spread"},
				{"us-east-1b", "", e.cluster, "node-fleet", name, "op-spread"},
				{"us-east-1b", "spot", e.cluster, "node-fleet", name, "op-spread"},
			}
			if diff := cmp.Diff(want, describeView(e.describeCluster(t))); diff != "" {
				t.Errorf("instances as EC2 describes them (-want +got):\n%s", diff)
			}
			// What Launch and List report agrees with EC2.
			listed, err := p.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			markets := map[autoscaler.Market]int{}
			for _, in := range listed {
				markets[in.Market]++
				if in.OperationID != "op-spread" || in.InstanceType != "t3.medium" || in.PrivateIP == "" {
					t.Errorf("listed instance %+v lacks operation id, type or IP", in)
				}
			}
			if diff := cmp.Diff(map[autoscaler.Market]int{autoscaler.MarketSpot: 2, autoscaler.MarketOnDemand: 2}, markets); diff != "" {
				t.Errorf("markets from List (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(ids(got), ids(listed)); diff != "" {
				t.Errorf("Launch and List disagree (-launch +list):\n%s", diff)
			}
		})
	}
}

func TestMotoSpotFallsBackToOnDemand(t *testing.T) {
	e := newMotoEnv(t)
	// moto always grants spot; refuse spot the way EC2 does when a zone
	// has no spot capacity, and let everything else reach moto.
	rec := &recorder{ec2ClientAPI: e.client, before: func(in *ec2.RunInstancesInput) error {
		if in.InstanceMarketOptions != nil {
			return &smithy.GenericAPIError{Code: "InsufficientInstanceCapacity", Message: "no spot capacity"}
		}
		return nil
	}}
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
	name := e.cluster + "-worker"
	want := []described{
		{"us-east-1a", "", e.cluster, "node-fleet", name, "op-fallback"},
		{"us-east-1b", "", e.cluster, "node-fleet", name, "op-fallback"},
	}
	if diff := cmp.Diff(want, describeView(e.describeCluster(t))); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
	// Spot was tried in both zones once, then avoided: the second
	// instance went straight to on-demand.
	var spotTries int
	for _, in := range rec.runs {
		if in.InstanceMarketOptions != nil {
			spotTries++
		}
	}
	if spotTries != 2 || rec.calls() != 4 {
		t.Errorf("RunInstances calls: %d spot of %d in all, want 2 of 4", spotTries, rec.calls())
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
	if diff := cmp.Diff(want, states); diff != "" {
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
	if diff := cmp.Diff([]string{mine[1].ID}, ids(listed)); diff != "" {
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
	if diff := cmp.Diff(ids(workers), ids(listed)); diff != "" {
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
	if diff := cmp.Diff(want, stateOf(t, e.client, server, workers[0].ID)); diff != "" {
		t.Errorf("states after Terminate (-want +got):\n%s", diff)
	}
}

func TestMotoRetriedLaunchDoesNotLaunchTwice(t *testing.T) {
	e := newMotoEnv(t)
	ctx := context.Background()
	// The second RunInstances succeeds in EC2 but its answer is lost, as
	// when a Lambda times out right after asking.
	lost := errors.New("connection reset by peer")
	rec := &recorder{ec2ClientAPI: e.client, after: func(n int) error {
		if n == 2 {
			return lost
		}
		return nil
	}}
	p := e.provider(t, rec, nil)
	req := autoscaler.LaunchRequest{OperationID: "op-retry", Count: 3}
	got, err := p.Launch(ctx, req)
	if !errors.Is(err, lost) || len(got) != 1 {
		t.Fatalf("first Launch: %d instances, err %v; want 1 and the lost answer", len(got), err)
	}
	if n := len(e.describeCluster(t)); n != 2 {
		t.Fatalf("EC2 has %d instances after the interrupted launch, want 2", n)
	}
	// The retry (a new provider: a new process) finds both and launches
	// only the third.
	rec2 := &recorder{ec2ClientAPI: e.client}
	p2 := e.provider(t, rec2, nil)
	got, err = p2.Launch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || rec2.calls() != 1 {
		t.Errorf("retried Launch returned %d instances after %d RunInstances calls, want 3 after 1", len(got), rec2.calls())
	}
	// Once more: nothing is missing, nothing is launched.
	again, err := p2.Launch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if rec2.calls() != 1 {
		t.Errorf("a complete operation called RunInstances again (%d calls)", rec2.calls())
	}
	if diff := cmp.Diff(ids(got), ids(again)); diff != "" {
		t.Errorf("second retry returned other instances (-first +second):\n%s", diff)
	}
	if n := len(e.describeCluster(t)); n != 3 {
		t.Errorf("EC2 has %d instances, want exactly 3", n)
	}
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
