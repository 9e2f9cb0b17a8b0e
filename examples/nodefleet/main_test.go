package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/state"
	clocktesting "k8s.io/utils/clock/testing"
)

// fixture is a cluster in moto (its DynamoDB table and EC2 instances) and
// on the real API server (its nodes), and the command pointed at them.
type fixture struct {
	t          *testing.T
	cluster    string
	table      string
	cfg        aws.Config
	store      *state.Dynamo
	ec2        *ec2.Client
	kubeconfig string
	kube       *kubetest.Cluster
	image      string
	subnet     string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	kubeconfig := testenv.Lookup(t, kubetest.EnvKubeconfig, "the kube-apiserver")
	ctx := t.Context()
	cfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	f := &fixture{t: t, cluster: "ops-" + hex.EncodeToString(b[:]), cfg: cfg, ec2: ec2.NewFromConfig(cfg), kubeconfig: kubeconfig, kube: kubetest.Connect(t)}
	f.table = "node-fleet-" + f.cluster
	ddb := dynamodb.NewFromConfig(cfg)
	if err := state.CreateTable(ctx, ddb, f.table, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if f.store, err = state.NewDynamo(state.DynamoConfig{Client: ddb, Table: f.table, ClusterID: f.cluster}); err != nil {
		t.Fatal(err)
	}
	imgs, err := f.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("describe images: %v", err)
	}
	f.image = aws.ToString(imgs.Images[0].ImageId)
	vpc, err := f.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.30.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String("us-east-1a"), CidrBlock: aws.String("10.30.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	f.subnet = aws.ToString(s.Subnet.SubnetId)
	return f
}

// launch starts an instance tagged as ec2fleet tags its workers (or, with
// managed false, with the cluster tag alone, as the deploy tags the K3s
// server).
func (f *fixture) launch(spot, managed bool) autoscaler.Instance {
	f.t.Helper()
	tags := []types.Tag{{Key: aws.String(ec2fleet.TagCluster), Value: aws.String(f.cluster)}}
	if managed {
		tags = append(tags, types.Tag{Key: aws.String(ec2fleet.TagManagedBy), Value: aws.String(ec2fleet.ManagedByValue)},
			types.Tag{Key: aws.String(ec2fleet.TagOperation), Value: aws.String("op-1")})
	}
	in := &ec2.RunInstancesInput{
		ImageId: aws.String(f.image), InstanceType: types.InstanceTypeT3Medium, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId:          aws.String(f.subnet),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}},
	}
	if spot {
		in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot}
	}
	out, err := f.ec2.RunInstances(f.t.Context(), in)
	if err != nil {
		f.t.Fatal(err)
	}
	i := out.Instances[0]
	id := aws.ToString(i.InstanceId)
	f.t.Cleanup(func() {
		_, _ = f.ec2.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	})
	m := autoscaler.MarketOnDemand
	if i.InstanceLifecycle == types.InstanceLifecycleTypeSpot {
		m = autoscaler.MarketSpot
	}
	return autoscaler.Instance{ID: id, Market: m, PrivateIP: aws.ToString(i.PrivateIpAddress)}
}

// run runs the command with the fixture's settings and returns its exit
// status and output.
func (f *fixture) run(args ...string) (int, string, string) {
	f.t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{
		"CLUSTER_ID": f.cluster, "DYNAMODB_TABLE": f.table, "AWS_REGION": "us-east-1",
		"KUBECONFIG": f.kubeconfig, "NODEFLEET_OPERATOR": "alice",
	}
	a := &app{getenv: func(k string) string { return env[k] }, stdout: &out, stderr: &errOut, now: time.Now,
		aws: func(context.Context, string) (aws.Config, error) { return f.cfg, nil }}
	code := a.run(f.t.Context(), args)
	return code, out.String(), errOut.String()
}

// save writes st as a tick does, under the lock.
func (f *fixture) save(st autoscaler.ClusterState) {
	f.t.Helper()
	if err := f.store.Update(f.t.Context(), "tick", time.Minute, func(s *autoscaler.ClusterState) error {
		st.ClusterID = s.ClusterID
		*s = st
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
}

// storedExpiry is the lease's expiry as the store keeps it: epoch seconds,
// rounded up.
func storedExpiry(l autoscaler.Lease) time.Time {
	t := l.Expires.UTC().Truncate(time.Second)
	if t.Before(l.Expires) {
		t = t.Add(time.Second)
	}
	return t
}

// ok runs the command, fails the test unless it exits 0, and returns its
// standard output.
func (f *fixture) ok(args ...string) string {
	f.t.Helper()
	code, stdout, stderr := f.run(args...)
	if code != 0 {
		f.t.Fatalf("%v: exit status %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
	}
	return stdout
}

func wantLines(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("%s: no line matches %q in:\n%s", what, p, out)
		}
	}
}

// status shows the lock's holder and expiry, the operation in progress
// and its age, safety mode with the missing readings, the last decisions,
// and the fleet: each instance with its market, zone and node, Ready or
// not, and a node's blocker; the K3s server (cluster tag only) is not in
// the fleet.
func TestIntegrationStatus(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	od, spot := f.launch(false, true), f.launch(true, true)
	server := f.launch(false, false)
	f.kube.AddNode(t, kubetest.NodeOptions{Labels: map[string]string{autoscaler.LabelCluster: f.cluster, autoscaler.LabelInstanceID: od.ID}})
	f.kube.AddNode(t, kubetest.NodeOptions{NotReady: true, Labels: map[string]string{autoscaler.LabelCluster: f.cluster, autoscaler.LabelInstanceID: spot.ID},
		Annotations: map[string]string{"node-fleet.io/scale-down-disabled": "true"}})
	orphan := f.kube.AddNode(t, kubetest.NodeOptions{Labels: map[string]string{autoscaler.LabelCluster: f.cluster, autoscaler.LabelInstanceID: "i-0000000000000dead"}})

	now := time.Now().UTC()
	started := now.Add(-7 * time.Minute)
	f.save(autoscaler.ClusterState{
		NodeCount: 2, ScalingInProgress: true,
		Operation: &autoscaler.Operation{ID: "op-down-1", Kind: autoscaler.OpScaleDown, NodeName: "node-x", InstanceID: od.ID, Phase: autoscaler.PhaseDraining, Started: started, Attempts: 1},
		History: []autoscaler.Record{
			{Time: now.Add(-4 * time.Minute), CPU: 35, Memory: 40, PendingPods: 0, Nodes: 2, Instances: 2, Action: autoscaler.ScaleDown, Count: 1},
			{Time: now.Add(-2 * time.Minute), CPU: math.NaN(), Memory: 41, PendingPods: math.NaN(), Nodes: 1, Instances: 2, Action: autoscaler.Hold, Safety: true, Hold: autoscaler.HoldOperation},
		},
	})
	lease, err := f.store.Acquire(ctx, "lambda-7", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	out := f.ok("status")
	wantLines(t, "status", out,
		`lock:\s+held by lambda-7 until `+regexp.QuoteMeta(storedExpiry(lease).Format("2006-01-02T15:04"))+`.*from now\), token `+fmt.Sprint(lease.Token),
		`paused:\s+no`,
		`operation:\s+scale_down op-down-1, node node-x instance `+od.ID+`, phase draining, started `+regexp.QuoteMeta(started.Format(time.RFC3339))+` \(7m\ds ago\), 1 recovery attempts`,
		`safety mode:\s+yes at the last tick: missing cpu, pending_pods`,
		`(?m)^\S+\s+-\s+41\.0\s+-\s+1\s+2\s+hold\s+0\s+operation\s+yes\s+-$`,
		`(?m)^\S+\s+35\.0\s+40\.0\s+0\s+2\s+2\s+scale_down\s+1\s+-\s+-\s+-$`,
		`fleet \(2 instances\)`,
		`(?m)^`+od.ID+`\s+t3\.medium\s+on-demand\s+us-east-1a\s+running\s+\S+\s+node-\S+\s+yes\s+-$`,
		`(?m)^`+spot.ID+`\s+t3\.medium\s+spot\s+us-east-1a\s+running\s+\S+\s+node-\S+\s+no\s+.*scale-down-disabled`,
		`managed nodes without an instance: `+orphan.Name,
	)
	if strings.Contains(out, server.ID) {
		t.Errorf("status lists the K3s server %s (cluster tag only) in the fleet:\n%s", server.ID, out)
	}

	// -json says the same, for scripts.
	var rep statusJSON
	if err := json.Unmarshal([]byte(f.ok("status", "-json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Lock.Owner == nil || *rep.Lock.Owner != "lambda-7" || !rep.Lock.Held || len(rep.Fleet) != 2 || rep.Operation == nil || rep.Operation.ID != "op-down-1" {
		t.Errorf("status -json: %+v", rep)
	}

	// Without a reachable API server, status says what is wrong and fails,
	// after printing what it could read.
	bad := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster: {server: \"https://127.0.0.1:1\"}\ncontexts:\n- name: x\n  context: {cluster: x, user: x}\ncurrent-context: x\nusers:\n- name: x\n  user: {token: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := f.run("status", "-kubeconfig", bad)
	if code != 1 || !strings.Contains(errOut, "the nodes could not be read") || !strings.Contains(errOut, "127.0.0.1:1") || !strings.Contains(out, "lock:") {
		t.Errorf("status without an API server: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// history filters by time, action and hold code, prints a table or JSON
// (missing readings as null), and names a wrong filter.
func TestIntegrationHistory(t *testing.T) {
	f := newFixture(t)
	base := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	var hist []autoscaler.Record
	for i := range 30 {
		r := autoscaler.Record{Time: base.Add(time.Duration(i) * 2 * time.Minute), CPU: float64(40 + i), Memory: 50, PendingPods: 0, Nodes: 3, Instances: 3, Action: autoscaler.Hold}
		switch {
		case i == 10:
			r.Action, r.Count, r.PendingPods = autoscaler.ScaleUp, 2, 4
		case i == 20:
			r.Action, r.Count = autoscaler.ScaleDown, 1
		case i%5 == 0:
			r.Hold = autoscaler.HoldCooldown
		}
		if i == 25 {
			r.CPU = math.NaN()
		}
		if i >= 16 { // forecasts, the later ones with the lead they were made for
			r.ForecastMethod, r.ForecastNodes = "naive", 3
			if i >= 22 {
				r.ForecastLead = 15 * time.Minute
			}
		}
		hist = append(hist, r)
	}
	f.save(autoscaler.ClusterState{NodeCount: 3, History: hist})

	out := f.ok("history", "-action", "scale_up,scale_down")
	wantLines(t, "history -action", out,
		`(?m)^`+base.Add(20*time.Minute).Format(time.RFC3339)+`\s+50\.0\s+50\.0\s+4\s+3\s+3\s+scale_up\s+2\s+-\s+-\s+-$`,
		`(?m)^`+base.Add(40*time.Minute).Format(time.RFC3339)+`\s+60\.0\s+50\.0\s+0\s+3\s+3\s+scale_down\s+1\s+-\s+-\s+-$`)
	if n := strings.Count(out, "\n"); n != 3 {
		t.Errorf("history -action: %d lines, want a header and 2 records:\n%s", n, out)
	}

	var got []recordJSON
	from, to := base.Add(30*time.Minute), base.Add(52*time.Minute)
	if err := json.Unmarshal([]byte(f.ok("history", "-json", "-since", from.Format(time.RFC3339), "-until", to.Format(time.RFC3339))), &got); err != nil {
		t.Fatal(err)
	}
	var want []recordJSON
	for _, r := range hist[15:26] {
		want = append(want, toRecordJSON(r))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history -json -since -until (-want +got):\n%s", diff)
	}
	raw := f.ok("history", "-json", "-limit", "5")
	if !strings.Contains(raw, `"cpu_percent": null`) {
		t.Errorf("history -json writes the missing CPU reading as something else than null:\n%s", raw)
	}
	if !strings.Contains(raw, `"forecast_lead_ns": 900000000000`) {
		t.Errorf("history -json does not show the forecasts' lead of 15m:\n%s", raw)
	}
	if raw := f.ok("history", "-json", "-limit", "10"); !strings.Contains(raw, `"forecast_lead_ns": null`) {
		t.Errorf("history -json writes a forecast without a recorded lead as something else than null:\n%s", raw)
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil || len(got) != 5 || got[4].Time == nil || !got[4].Time.Equal(hist[29].Time) {
		t.Errorf("history -limit 5: %v, %d records", err, len(got))
	}
	out = f.ok("history", "-hold", "cooldown", "-since", "2h")
	if n := strings.Count(out, "cooldown"); n != 4 { // i = 0, 5, 15, 25 (10 and 20 acted)
		t.Errorf("history -hold cooldown: %d records, want 4:\n%s", n, out)
	}

	out = f.ok("history", "-action", "scale_up", "-since", "1m")
	wantLines(t, "history with nothing in the period", out, `^no records match \(the history holds 30\)`)
	f.cluster = "other-" + f.cluster
	wantLines(t, "history of a cluster the table does not hold", f.ok("history"), `holds no history for cluster other-.*-cluster \(CLUSTER_ID\) is wrong`)
	wantLines(t, "status of a cluster the table does not hold", f.ok("status"), `warning:\s+the table \S+ holds nothing for cluster other-`)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"history", "-action", "scale_sideways"}, `unknown action "scale_sideways"; want hold, scale_up or scale_down`},
		{[]string{"history", "-since", "yesterday"}, `-since "yesterday": want a duration before now`},
		{[]string{"history", "-since", "1h", "-until", "2h"}, "is not after -since"},
		{[]string{"history", "extra"}, `unexpected argument "extra"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		code, _, errOut := f.run(c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

// pause stores who, when and why; a real tick on the same DynamoDB item
// then holds with "paused by <who> at <when>: <why>" and repairs nothing;
// resume ends it, and the next tick acts. pause waits for a tick that
// holds the lock, and gives up after -wait naming the holder.
func TestIntegrationPauseResume(t *testing.T) {
	f := newFixture(t)
	code, _, errOut := f.run("pause")
	if code != 2 || !strings.Contains(errOut, "-reason is required") {
		t.Errorf("pause without -reason: exit %d, %q", code, errOut)
	}
	// The table holds nothing for the cluster yet (it never ticked; a
	// mistyped -cluster looks the same): pause refuses, and writes nothing.
	code, _, errOut = f.run("pause", "-reason", "kernel upgrade")
	if code != 1 || !strings.Contains(errOut, "holds nothing for cluster "+f.cluster) || !strings.Contains(errOut, "-force") {
		t.Errorf("pause of a cluster that never ticked: exit %d, %q; want 1, refused, naming -force", code, errOut)
	}
	if st, err := f.store.Load(t.Context()); err != nil || st.Paused != nil {
		t.Fatalf("after a refused pause: paused %+v, err %v; want nothing stored", st.Paused, err)
	}
	code, _, errOut = f.run("pause", "-reason", "x", "-cluster", "bad id!")
	if code == 0 || !strings.Contains(errOut, `CLUSTER_ID "bad id!"`) {
		t.Errorf("pause -cluster 'bad id!': exit %d, %q; want an error naming CLUSTER_ID", code, errOut)
	}
	out := f.ok("pause", "-reason", "kernel upgrade", "-force")
	wantLines(t, "pause", out, `cluster \S+ paused by alice at \S+: kernel upgrade`)
	st, err := f.store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Paused == nil || st.Paused.By != "alice" || st.Paused.Reason != "kernel upgrade" || time.Since(st.Paused.At) > time.Minute {
		t.Fatalf("stored pause %+v", st.Paused)
	}
	code, _, errOut = f.run("pause", "-reason", "again")
	if code != 1 || !strings.Contains(errOut, "is paused by alice") || !strings.Contains(errOut, "resume it first") {
		t.Errorf("pausing a paused cluster: exit %d, %q", code, errOut)
	}

	// A tick on the stored state: the policy asks for 2 more, and a ghost
	// (an instance that never joined) waits for repair.
	tick := newTicker(t, f)
	res, err := tick.RunOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := "paused by alice at " + st.Paused.At.UTC().Format(time.RFC3339) + ": kernel upgrade"
	if res.Outcome != autoscaler.OutcomeHeld || res.Hold() != autoscaler.HoldPaused || !strings.Contains(res.Reason, want) || len(res.Launched()) != 0 || len(res.Ghosts()) != 0 {
		t.Errorf("paused tick: %s %s %q, launched %d, ghosts %v; want held by %q", res.Outcome, res.Hold(), res.Reason, len(res.Launched()), res.Ghosts(), want)
	}
	out = f.ok("status")
	wantLines(t, "status while paused", out, `paused:\s+yes, `+regexp.QuoteMeta(want), `(?m)\s+hold\s+0\s+paused\s+`)

	out = f.ok("resume")
	wantLines(t, "resume", out, `resumed by alice \(it was paused by alice`)
	res, err = tick.RunOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != autoscaler.OutcomeScaledUp || len(res.Ghosts()) != 1 {
		t.Errorf("tick after resume: %s %q, ghosts %v; want scaled_up and the ghost terminated", res.Outcome, res.Reason, res.Ghosts())
	}
	out = f.ok("resume")
	wantLines(t, "resume again", out, `was not paused; nothing changed`)
	known := f.cluster
	f.cluster = "other-" + known
	code, _, errOut = f.run("resume")
	if code != 1 || !strings.Contains(errOut, "holds nothing for cluster other-") {
		t.Errorf("resume of a cluster the table does not hold: exit %d, %q; want 1, refused", code, errOut)
	}
	f.cluster = known

	// A tick holds the lock: pause waits, then names the holder.
	if _, err := f.store.Acquire(t.Context(), "daemon-b", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, errOut = f.run("pause", "-reason", "x", "-wait", "3s")
	if code != 1 || !strings.Contains(errOut, `held by "daemon-b"`) || !strings.Contains(errOut, "-wait 3s") || time.Since(start) < 3*time.Second {
		t.Errorf("pause while the lock is held: exit %d after %s, %q", code, time.Since(start), errOut)
	}
}

// newTicker is an autoscaler whose lock and state are the fixture's
// DynamoDB item (the rest in memory): the policy always asks for 2
// more nodes, and one instance never joins.
func newTicker(t *testing.T, f *fixture) *autoscaler.Autoscaler {
	t.Helper()
	// The fake clock runs behind the real one (the lease's) until the
	// ghost is old enough.
	clk := clocktesting.NewFakeClock(time.Now().Add(-30 * time.Minute))
	fleet := fake.NewFleet(clk)
	if _, err := fleet.Launch(t.Context(), autoscaler.LaunchRequest{OperationID: "ghost", Count: 1}); err != nil {
		t.Fatal(err)
	}
	nodes := fake.NewNodes(clk, fleet)
	nodes.NeverJoin(fleet.Instances()[0].ID)
	clk.SetTime(time.Now())
	m := &fake.Metrics{}
	now := time.Now()
	m.Set(autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(90, now), Memory: autoscaler.Value(50, now), PendingPods: autoscaler.Value(0, now)})
	cfg := autoscaler.DefaultConfig()
	cfg.ClusterID, cfg.Owner = f.cluster, "test-tick"
	cfg.Metrics, cfg.Locker, cfg.State, cfg.Fleet, cfg.Nodes = m, f.store, f.store, fleet, nodes
	cfg.Clock = clk
	cfg.Policy = autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision {
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 2, Reason: "test wants 2", Level: autoscaler.LevelNone}
	})
	as, err := autoscaler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// unlock refuses a valid lease and says how to force it, releases it with
// -force recording who, releases an expired one without, and says when
// there is nothing to release.
func TestIntegrationUnlock(t *testing.T) {
	f := newFixture(t)
	out := f.ok("unlock")
	wantLines(t, "unlock of a free lock", out, `is not held; nothing to release`)

	lease, err := f.store.Acquire(t.Context(), "daemon-a", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := f.run("unlock")
	if code != 1 || !strings.Contains(errOut, `the lease of "daemon-a" is valid until `+storedExpiry(lease).Format(time.RFC3339)) || !strings.Contains(errOut, "use -force") {
		t.Errorf("unlock of a valid lease: exit %d, %q", code, errOut)
	}
	out = f.ok("unlock", "-force", "-by", "bob")
	wantLines(t, "unlock -force", out, `released the lock of cluster \S+: daemon-a's lease, token `+fmt.Sprint(lease.Token)+`, .*\(still valid, forced\); recorded as released by bob`)
	out = f.ok("status")
	wantLines(t, "status after unlock", out, `lock:\s+free`, `last unlock:\s+by bob at .*: daemon-a's lease, token `+fmt.Sprint(lease.Token)+`, forced while valid`)
	if err := f.store.Save(t.Context(), lease, autoscaler.ClusterState{}); err == nil {
		t.Error("the unlocked holder could still save the state")
	}

	// A lease that expired longer ago than the clock-skew margin: taken
	// on a clock that far behind.
	past := clocktesting.NewFakePassiveClock(time.Now().Add(-state.DefaultClockSkew - 2*time.Second))
	old, err := state.NewDynamo(state.DynamoConfig{Client: dynamodb.NewFromConfig(f.cfg), Table: f.table, ClusterID: f.cluster, Clock: past})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Acquire(t.Context(), "lambda-b", time.Second); err != nil {
		t.Fatal(err)
	}
	out = f.ok("unlock")
	wantLines(t, "unlock of an expired lease", out, `lambda-b's lease, .*\(expired\); recorded as released by alice`)
}

// report prices the history against a static fleet sized for the peak:
// 30 two-minute ticks, 2 instances for the first half hour and 4 for the
// second, priced as the fleet's mix (one t3.medium on demand and one on
// spot, as moto launched them); and draws the chart.
func TestIntegrationReport(t *testing.T) {
	f := newFixture(t)
	f.launch(false, true)
	spot := f.launch(true, true)
	if spot.Market != autoscaler.MarketSpot {
		t.Fatalf("moto launched the spot request as %s", spot.Market)
	}
	base := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Hour)
	var hist []autoscaler.Record
	for i := range 30 {
		n := 2
		if i >= 15 {
			n = 4
		}
		cpu := 30 + 2*float64(i)
		if i == 12 {
			cpu = math.NaN()
		}
		// In forecast-only mode: a naive forecast (the demand now) and a
		// predictive policy that would have held.
		demand := float64(i % 3)
		hist = append(hist, autoscaler.Record{Time: base.Add(time.Duration(i) * 2 * time.Minute), CPU: cpu, Memory: 50, PendingPods: float64(i % 4), Nodes: n, Instances: n, Action: autoscaler.Hold,
			Custom: map[string]float64{autoscaler.MetricDemand: demand}, ForecastMethod: "naive", ForecastNodes: demand, ShadowAction: autoscaler.Hold})
	}
	f.save(autoscaler.ClusterState{NodeCount: 4, History: hist})

	chart := filepath.Join(t.TempDir(), "fleet.png")
	since, until := base.Format(time.RFC3339), base.Add(time.Hour).Format(time.RFC3339)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	raw := f.ok("report", "-since", since, "-until", until, "-json", "-chart", chart, "-lead", "4m")
	var rep costReport
	if err := json.Unmarshal([]byte(raw), &rep); err != nil {
		t.Fatal(err)
	}
	// The forecast, judged from the stored history: the naive forecast's
	// MASE is 1; the next 4 minutes hold a higher demand than the tick's
	// own after demand 0 and 1 (peak 2) and not after 2 (peak 1): 9 of
	// the 28 ticks with 4 minutes after them covered; the policy would
	// have had the nodes the fleet had.
	if fc := rep.Forecast; fc == nil || fc.Records != 30 || fc.Scored != 28 || fc.MASE == nil || *fc.MASE != 1 || fc.PeaksCovered != 9 ||
		fc.ShadowRecords != 30 || !near(fc.ShadowNodeHours, 3) || !near(fc.ActualInstanceHours, 3) {
		t.Errorf("report's forecast %+v: want 30 records, 28 scored, MASE 1, 9 peaks covered, 3 node-hours as the fleet's 3 instance-hours", fc)
	}
	if fc := rep.Forecast; fc == nil || len(fc.Leads) != 1 || fc.Leads[0].Lead != 4*time.Minute || fc.Leads[0].From != "-lead" {
		t.Errorf("report's forecast judged at %+v, want all at 4m from -lead (the records stored without their lead)", fc)
	}
	// The same forecasts stored with the lead they were made for are
	// judged at it, with no -lead and no PREDICTIVE_LEAD.
	withLead := slices.Clone(hist)
	for i := range withLead {
		withLead[i].ForecastLead = 4 * time.Minute
	}
	f.save(autoscaler.ClusterState{NodeCount: 4, History: withLead})
	var own costReport
	if err := json.Unmarshal([]byte(f.ok("report", "-since", since, "-until", until, "-json")), &own); err != nil {
		t.Fatal(err)
	}
	if fc := own.Forecast; fc == nil || len(fc.Leads) != 1 || fc.Leads[0].Lead != 4*time.Minute || fc.Leads[0].From != leadRecorded ||
		fc.Scored != 28 || fc.MASE == nil || *fc.MASE != 1 || fc.PeaksCovered != 9 {
		t.Errorf("report of forecasts stored with their 4m lead: %+v, want them judged at 4m as recorded: 28 scored, MASE 1, 9 peaks covered", fc)
	}
	for _, name := range []string{`"saved_percent":`, `"peak_instances":`, `"on_demand_hourly":`} {
		if !strings.Contains(raw, name) {
			t.Errorf("report -json lacks the snake_case name %s:\n%s", name, raw)
		}
	}
	p := defaultPrices["t3.medium"]
	mean := (p.OnDemand + p.Spot) / 2
	wantHours := 2*0.5 + 4*0.5 // 3 instance-hours
	if rep.Records != 30 || rep.Covered != time.Hour || rep.Uncovered != 0 || rep.PeakInstances != 4 || !near(rep.InstanceHours, wantHours) {
		t.Errorf("report: %d records covering %s (%s uncovered), peak %d, %.3f instance-hours; want 30, 1h, 0, 4, %.1f", rep.Records, rep.Covered, rep.Uncovered, rep.PeakInstances, rep.InstanceHours, wantHours)
	}
	if !near(rep.Cost, wantHours*mean) || !near(rep.Static, 4*p.OnDemand) || !near(rep.Saved, 4*p.OnDemand-wantHours*mean) {
		t.Errorf("report: cost %.5f, static %.5f, saved %.5f; want %.5f, %.5f, %.5f", rep.Cost, rep.Static, rep.Saved, wantHours*mean, 4*p.OnDemand, 4*p.OnDemand-wantHours*mean)
	}
	if keep := os.Getenv("NODEFLEET_KEEP_CHART"); keep != "" {
		b, err := os.ReadFile(chart)
		if err == nil {
			err = os.WriteFile(keep, b, 0o644)
		}
		if err != nil {
			t.Error(err)
		}
	}
	fh, err := os.Open(chart)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(fh)
	fh.Close()
	if err != nil || img.Bounds().Dx() < 1000 {
		t.Errorf("chart %s: %v, %v", chart, err, img.Bounds())
	}

	// Text; a price table of the operator's; a period partly before the
	// history.
	prices := filepath.Join(t.TempDir(), "prices.csv")
	if err := os.WriteFile(prices, []byte("type,on_demand,spot\nt3.medium,0.10,0.05\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := f.ok("report", "-since", base.Add(-time.Hour).Format(time.RFC3339), "-until", until, "-prices", prices)
	wantLines(t, "report text", out,
		`history:\s+30 ticks covering 1h0m0s; 1h0m0s of the period has no ticks`,
		`priced as:\s+1 × t3.medium on-demand at \$0\.1000/h`, `priced as:\s+1 × t3.medium spot at \$0\.0500/h`,
		`instance-hours:\s+3\.0 \(peak 4 instances\)`,
		`cost:\s+\$`+fmt.Sprintf("%.2f", 3*0.075), `static fleet:\s+\$`+fmt.Sprintf("%.2f", 4*0.10))

	// Spot prices from EC2's spot price history (moto's, read here too).
	spotHist, err := f.ec2.DescribeSpotPriceHistory(t.Context(), &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes: []types.InstanceType{types.InstanceTypeT3Medium}, AvailabilityZone: aws.String("us-east-1a")})
	if err != nil || len(spotHist.SpotPriceHistory) == 0 {
		t.Fatalf("moto's spot price history: %v", err)
	}
	motoSpot, err := strconv.ParseFloat(aws.ToString(spotHist.SpotPriceHistory[0].SpotPrice), 64)
	if err != nil {
		t.Fatal(err)
	}
	raw = f.ok("report", "-since", since, "-until", until, "-json", "-spot-history")
	rep = costReport{}
	if err := json.Unmarshal([]byte(raw), &rep); err != nil {
		t.Fatal(err)
	}
	wantCost := wantHours * (p.OnDemand + motoSpot) / 2
	if rep.SpotPrices != "EC2 spot price history" || !near(rep.Cost, wantCost) || !near(rep.Static, 4*p.OnDemand) {
		t.Errorf("report -spot-history: %s, cost %.6f, static %.5f; want the history, %.6f, %.5f", rep.SpotPrices, rep.Cost, rep.Static, wantCost, 4*p.OnDemand)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"report", "-instance-type", "x9.huge"}, 1, `no price for instance type "x9.huge": add it with -prices`},
		{[]string{"report", "-since", base.Add(-5 * time.Hour).Format(time.RFC3339), "-until", base.Add(-4 * time.Hour).Format(time.RFC3339)}, 1, "the history has no record from"},
		{[]string{"report", "-market", "reserved"}, 2, `-market "reserved": want on-demand or spot`},
		{[]string{"report", "-prices", "/nonexistent.csv"}, 1, "-prices: open /nonexistent.csv"},
	} {
		code, _, errOut := f.run(c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

// A table that does not exist is named, for every subcommand that reads
// the state alone. Those that read the programs' whole configuration are
// left out: setup creates the table, and doctor's check of a missing
// table is in doctor_test.go.
func TestIntegrationMissingTable(t *testing.T) {
	f := newFixture(t)
	f.table = "no-such-table-" + f.cluster
	for _, c := range commands {
		if c.site != nil {
			continue
		}
		args := []string{c.name}
		if c.name == "pause" {
			args = append(args, "-reason", "x")
		}
		code, _, errOut := f.run(args...)
		if code != 1 || !strings.Contains(errOut, f.table) {
			t.Errorf("%s with a missing table: exit %d, %q; want 1 and the table's name", c.name, code, errOut)
		}
	}
}

// Every subcommand has -h, and the settings it lacks are named.
func TestHelpAndMissingSettings(t *testing.T) {
	for _, c := range commands {
		var out, errOut bytes.Buffer
		a := &app{getenv: func(string) string { return "" }, stdout: &out, stderr: &errOut, now: time.Now}
		if code := a.run(t.Context(), []string{c.name, "-h"}); code != 0 {
			t.Errorf("%s -h: exit %d", c.name, code)
		}
		settings, missing := "-cluster", "-cluster (CLUSTER_ID) is required; -table (DYNAMODB_TABLE) is required"
		if c.site != nil {
			// The programs' own variables.
			settings, missing = "CLUSTER_ID, DYNAMODB_TABLE", "CLUSTER_ID is required: "
		}
		if !strings.Contains(errOut.String(), "usage: nodefleet "+c.name) || !strings.Contains(errOut.String(), settings) {
			t.Errorf("%s -h:\n%s", c.name, errOut.String())
		}
		errOut.Reset()
		if code := a.run(t.Context(), []string{c.name}); code != 2 {
			t.Errorf("%s without settings: exit %d", c.name, code)
		}
		if !strings.Contains(errOut.String(), missing) {
			t.Errorf("%s without settings: %q", c.name, errOut.String())
		}
	}
	var out bytes.Buffer
	a := &app{getenv: func(string) string { return "" }, stdout: &out, stderr: &out, now: time.Now}
	if code := a.run(t.Context(), []string{"-h"}); code != 0 || !strings.Contains(out.String(), "unlock") {
		t.Errorf("-h: exit %d\n%s", code, out.String())
	}
}
