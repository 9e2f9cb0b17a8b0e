package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/notify"
	"github.com/node-fleet/node-fleet/state"
)

// dryRunSale is TestDryRunFlashSale's world: one control plane, the
// daemon with DRY_RUN=true, the state table and the alerts' queue.
type dryRunSale struct {
	t        *testing.T
	ctx      context.Context
	e        *env
	endpoint string
	store    *state.Dynamo
	alerts   *Alerts
}

// TestDryRunFlashSale runs node-fleet's daemon as it ships with
// DRY_RUN=true through a flash sale on a control plane of its own. The
// fleet is three workers a live node-fleet launched earlier (the
// launch template, the fleet's tags), one above MIN_NODES 2; the shop
// goes from 2 to 20 replicas of each app and back. The dry run must
// change nothing: the cluster's instances in EC2 are the same and all
// running at the end (none launched, none terminated), no Node is
// created, cordoned or deleted, the autoscaler's identity evicts and
// deletes nothing (the API server's audit log), no operation is written
// ahead. It must say what it would have done: a would-be scale-down of
// the extra worker before the sale and a would-be launch during it, in
// `nodefleet history` (the operator command, built and run as a user
// runs it) and in the SNS notifications, every one of them marked dry
// run.
func TestDryRunFlashSale(t *testing.T) {
	opts := Options{Mode: ModeDaemon, MinNodes: 2, MaxNodes: 10, Tick: 5 * time.Second, ScaleDownCooldown: 5 * time.Second, DryRun: true, Earlier: 3, Logf: t.Logf}
	opts.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := &dryRunSale{t: t, ctx: ctx, e: newEnv(t, ctx, opts), endpoint: testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")}
	e := d.e
	awsCfg, err := awsutil.ForEmulator(ctx, d.endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	d.alerts = NewAlerts(sqs.NewFromConfig(awsCfg), e.stack.AlertQueue)
	d.store, err = state.NewDynamo(state.DynamoConfig{Client: dynamodb.NewFromConfig(awsCfg), Table: e.stack.Table, ClusterID: e.stack.ClusterID})
	if err != nil {
		t.Fatal(err)
	}
	zero := time.Now() // the sale's start, once it starts
	t.Cleanup(func() {
		t.Logf("timeline:\n%s", Format(e.rec.Timeline(), zero))
		if t.Failed() {
			t.Logf("end of %s's log:\n%s", e.proc, e.cl.Log(e.proc, 8000))
		}
	})

	e.await(t, 2*time.Minute, "3 workers Ready and the shop's baseline", func() (bool, error) {
		ok, err := AllReady(ctx, e.cl.Admin, e.ns, Shop, opts.Base)
		return ok && e.rec.Workers() == 3, err
	})
	nodes := d.nodes()
	baseline := e.rec.Mark("baseline reached: 3 workers, MIN_NODES 2")
	d.awaitWould(baseline, "scale-down", autoscaler.ScaleDown)

	zero = e.rec.Mark(fmt.Sprintf("sale: replicas %d -> %d", opts.Base, opts.Peak))
	if err := Scale(ctx, e.cl.Admin, e.ns, Shop, opts.Peak); err != nil {
		t.Fatal(err)
	}
	d.awaitWould(zero, "launch", autoscaler.ScaleUp)
	// A live daemon launches within a second or two of the first
	// pending pod (TestFlashSaleDaemon); two ticks more.
	time.Sleep(2 * opts.Tick)
	if ok, err := AllReady(ctx, e.cl.Admin, e.ns, Shop, opts.Peak); err != nil || ok {
		t.Errorf("every pod of the sale running (err %v) with 3 workers: the sale needed no scale-up, the test proves nothing", err)
	}
	e.rec.Mark(fmt.Sprintf("sale over: replicas %d -> %d", opts.Peak, opts.Base))
	if err := Scale(ctx, e.cl.Admin, e.ns, Shop, opts.Base); err != nil {
		t.Fatal(err)
	}
	e.await(t, time.Minute, "the shop back at its baseline", func() (bool, error) {
		return AllReady(ctx, e.cl.Admin, e.ns, Shop, opts.Base)
	})
	time.Sleep(2 * opts.Tick)
	e.rec.Mark("end")

	d.nothingTouched(nodes)
	d.history(baseline)
	d.notified()
}

// instances returns the state of every instance tagged with the
// cluster (the K3s server's too), by id.
func (d *dryRunSale) instances() map[string]string {
	out := map[string]string{}
	p := ec2.NewDescribeInstancesPaginator(d.e.ec2, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + ec2fleet.TagCluster), Values: []string{d.e.stack.ClusterID}}}})
	for p.HasMorePages() {
		page, err := p.NextPage(d.ctx)
		if err != nil {
			d.t.Fatal(err)
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				out[aws.ToString(in.InstanceId)] = string(in.State.Name)
			}
		}
	}
	return out
}

// nodes returns the names of the Nodes, sorted.
func (d *dryRunSale) nodes() []string {
	list, err := d.e.cl.Admin.CoreV1().Nodes().List(d.ctx, metav1.ListOptions{})
	if err != nil {
		d.t.Fatal(err)
	}
	var out []string
	for _, n := range list.Items {
		if n.Spec.Unschedulable {
			d.t.Errorf("node %s is cordoned", n.Name)
		}
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out
}

// awaitWould waits up to a minute for a record at or after since of a
// dry-run tick that would have carried out a step of kind ("launch",
// "scale-down"), or of a live tick that took the like action: the
// checks at the end then say what a live tick did.
func (d *dryRunSale) awaitWould(since time.Time, kind string, live autoscaler.Action) {
	d.t.Helper()
	d.e.await(d.t, time.Minute, fmt.Sprintf("a dry-run record that would %s", kind), func() (bool, error) {
		st, err := d.store.Load(d.ctx)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(st.History, func(r autoscaler.Record) bool {
			would := r.DryRun && slices.ContainsFunc(r.Would, func(w string) bool { return strings.HasPrefix(w, kind+" ") })
			return !r.Time.Before(since) && (would || !r.DryRun && r.Action == live)
		}), nil
	})
	d.e.rec.Mark("the history has a record of " + kind)
}

// nothingTouched fails the test for each instance of the cluster but
// the server and the earlier workers (one launched), each of those not
// running (terminated or stopped), each Node created, cordoned or
// deleted since the baseline, each eviction or pod deletion by the
// autoscaler, and an operation written ahead.
func (d *dryRunSale) nothingTouched(nodes []string) {
	t, e := d.t, d.e
	want := append([]string{e.stack.ServerInstance}, e.earlier...)
	now := d.instances()
	for id, s := range now {
		switch {
		case !slices.Contains(want, id):
			t.Errorf("instance %s (%s) launched during the dry run", id, s)
		case s != string(ec2types.InstanceStateNameRunning):
			t.Errorf("instance %s is %s, want running", id, s)
		}
	}
	for _, id := range want {
		if _, ok := now[id]; !ok {
			t.Errorf("instance %s is gone", id)
		}
	}
	if after := d.nodes(); !slices.Equal(after, nodes) {
		t.Errorf("the Nodes were %v and are %v", nodes, after)
	}
	for _, n := range nodes {
		if cordoned, deleted := e.rec.NodeSeen(n); cordoned || deleted {
			t.Errorf("node %s: cordoned %v, deleted %v; want neither", n, cordoned, deleted)
		}
	}
	evicted, refused, deletes, nodesDeleted := Audit(t, e.cl.AuditLog, e.saUser)
	if evicted+refused+deletes+len(nodesDeleted) > 0 {
		t.Errorf("the autoscaler (%s) evicted %d pods, had %d evictions refused, deleted %d pods and the Nodes %v; want nothing",
			e.saUser, evicted, refused, deletes, nodesDeleted)
	}
	st, err := d.store.Load(d.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Operation != nil || !st.LastScaleUp.IsZero() || !st.LastScaleDown.IsZero() {
		t.Errorf("state after the dry run: operation %+v, last scale-up %v, last scale-down %v; want none", st.Operation, st.LastScaleUp, st.LastScaleDown)
	}
}

// history runs `nodefleet history -since since` as an operator would
// and checks that every record is a dry run's and that it shows the
// would-be scale-down and launch.
func (d *dryRunSale) history(since time.Time) {
	t, e := d.t, d.e
	bin := buildProgram(t, "examples/nodefleet", "")
	cmd := exec.CommandContext(d.ctx, bin, "history", "-since", since.UTC().Format(time.RFC3339))
	cmd.Env = append(os.Environ(), "CLUSTER_ID="+e.stack.ClusterID, "DYNAMODB_TABLE="+e.stack.Table, "AWS_REGION=us-east-1",
		"AWS_ENDPOINT_URL="+d.endpoint, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
	out, err := cmd.CombinedOutput()
	t.Logf("nodefleet history:\n%s", out)
	if err != nil {
		t.Fatalf("nodefleet history: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 || !strings.HasSuffix(lines[0], "DRY RUN") {
		t.Fatalf("nodefleet history printed no table")
	}
	for _, l := range lines[1:] {
		if !strings.Contains(l, "would: ") {
			t.Errorf("a record of a live tick (or none of the dry run's) in the history: %q", l)
		}
	}
	for _, want := range []string{"would: launch ", "scale-down "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nodefleet history does not show %q", want)
		}
	}
}

// notified checks the SNS notifications: a would-be scale-up, and every
// message marked dry run.
func (d *dryRunSale) notified() {
	t := d.t
	got, err := d.alerts.Poll(d.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range got {
		if !m.DryRun {
			t.Errorf("a notification not marked dry run: %s %q", m.Kind, m.Message)
		}
	}
	if !slices.ContainsFunc(got, func(m notify.Message) bool {
		return m.Kind == autoscaler.EventScaleUp && strings.HasPrefix(m.Message, "would scale up ")
	}) {
		t.Errorf("no notification of a would-be scale-up among %d", len(got))
	}
}
