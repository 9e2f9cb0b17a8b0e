package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/notify"
)

// The autoscaler's shortest JOIN_TIMEOUT: an instance younger is never
// repaired, so a fault waits until the instances it hits are that old.
const joinTimeout = 3 * time.Minute

// zonesRun is TestZonesAndLocalData's world: one control plane, the
// daemon, a fleet over the three zones, the ledger on one worker.
type zonesRun struct {
	t      *testing.T
	ctx    context.Context
	e      *env
	alerts *Alerts
	ledger Ledger
	zero   time.Time // the sale's start
}

// TestZonesAndLocalData runs node-fleet's daemon on one control plane
// through a sale that fills MAX_NODES 7 workers over the three zones,
// then puts a StatefulSet whose claim is bound to a local-path volume
// (the ledger) alone on the worker a scale-down would take first
// (placeLedger), and then:
//
//   - zone spread: the sale's workers are over every subnet's zone with
//     max - min <= 1;
//   - local data, repair: the ledger's worker goes NotReady (1 of 7, no
//     outage): it is not terminated, and an alert names it and its
//     volume;
//   - zone outage: every worker of a zone (2 of 7, under the fleet-wide
//     third) goes NotReady at once: nothing of that zone is terminated,
//     nothing of the other zones is cordoned or terminated, and an alert
//     names the zone;
//   - local data, scale-down: the sale is over and the fleet goes back
//     to MIN_NODES 2: the ledger's worker is never cordoned, drained or
//     terminated, other workers are removed instead, and the daemon's
//     log says why it stayed (a keep verdict naming the node and its
//     volume).
//
// The NotReady faults are kwok's (LabelDown), their Ready condition's
// last transition backdated by the autoscaler's 5 minutes of NotReady
// before repair (compressed time); they wait until the instances they hit
// are JOIN_TIMEOUT (3 minutes, its least) old, when repair could act.
func TestZonesAndLocalData(t *testing.T) {
	opts := Options{Mode: ModeDaemon, MinNodes: 2, MaxNodes: 7, Tick: 5 * time.Second, ScaleDownCooldown: 5 * time.Second, Logf: t.Logf}
	opts.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	z := &zonesRun{t: t, ctx: ctx, e: newEnv(t, ctx, opts)}
	awsCfg, err := awsutil.ForEmulator(ctx, testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	z.alerts = NewAlerts(sqs.NewFromConfig(awsCfg), z.e.stack.AlertQueue)
	t.Cleanup(func() {
		t.Logf("timeline:\n%s", Format(z.e.rec.Timeline(), z.zero))
		if t.Failed() {
			t.Logf("end of %s's log:\n%s", z.e.proc, z.e.cl.Log(z.e.proc, 8000))
		}
	})

	z.baseline()
	z.sale()
	z.placeLedger()
	t.Run("local data, repair", z.ledgerNotReady)
	t.Run("zone outage", z.zoneOutage)
	t.Run("local data, scale-down", z.saleOver)
}

// await polls cond until it holds, failing t after limit.
func (z *zonesRun) await(t *testing.T, limit time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	z.e.await(t, limit, what, cond)
}

// await polls cond until it holds, failing t after limit or when a
// process of the control plane exits.
func (e *env) await(t *testing.T, limit time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err == nil && ok {
			return
		}
		if ex := e.cl.Exited(); len(ex) > 0 {
			t.Fatalf("%v exited while waiting for %s; end of its log:\n%s", ex, what, e.cl.Log(ex[0], 4000))
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (err %v)", limit, what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// baseline waits for MIN_NODES workers and the shop.
func (z *zonesRun) baseline() {
	e := z.e
	z.await(z.t, 3*time.Minute, "the baseline", func() (bool, error) {
		ok, err := AllReady(z.ctx, e.cl.Admin, e.ns, Shop, e.opts.Base)
		return ok && e.rec.Workers() == e.opts.MinNodes, err
	})
	e.rec.Mark("baseline reached")
}

// placeLedger puts the ledger on the worker a scale-down would take
// first were it not kept (firstVictim), alone there: the node is tainted
// LedgerTaint (NoSchedule, which only the ledger tolerates) and the
// shop's pods on it are deleted (their ReplicaSets make them again,
// elsewhere). The victim order is fewest pods first, then the zone with
// the most workers, the lower move cost, the newest instance: when the
// sale is over, the ledger's node (one pod of 100m) comes right after
// the empty workers.
func (z *zonesRun) placeLedger() {
	t, e := z.t, z.e
	target := firstVictim(z.workers())
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := e.cl.Admin.CoreV1().Nodes().Get(z.ctx, target.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: LedgerTaint, Value: "only", Effect: corev1.TaintEffectNoSchedule})
		_, err = e.cl.Admin.CoreV1().Nodes().Update(z.ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	onNode := metav1.ListOptions{FieldSelector: "spec.nodeName=" + target.Name}
	if err := e.cl.Admin.CoreV1().Pods(e.ns).DeleteCollection(z.ctx, metav1.DeleteOptions{}, onNode); err != nil {
		t.Fatal(err)
	}
	if z.ledger, err = CreateLedger(z.ctx, e.cl.Admin, e.ns, "ledger", target.Name); err != nil {
		t.Fatal(err)
	}
	z.await(t, time.Minute, "the ledger's pod running alone on "+target.Name, func() (bool, error) {
		pods, err := e.cl.Admin.CoreV1().Pods(e.ns).List(z.ctx, onNode)
		if err != nil {
			return false, err
		}
		p := pods.Items
		return len(p) == 1 && p[0].Name == z.ledger.Pod() && p[0].Status.Phase == corev1.PodRunning, nil
	})
	e.rec.Mark(fmt.Sprintf("ledger running alone on %s (zone %s, the newest of its %d workers), volume %s",
		target.Name, target.Zone, e.rec.ZoneCounts()[target.Zone], z.ledger.Volume))
}

// firstVictim returns the worker a scale-down takes first among workers
// with as many pods: the newest (then the lowest instance id) of the
// zone with the most workers.
func firstVictim(workers []worker) worker {
	count := map[string]int{}
	for _, w := range workers {
		count[w.Zone]++
	}
	return slices.MinFunc(workers, func(a, b worker) int {
		if c := cmp.Compare(count[b.Zone], count[a.Zone]); c != 0 {
			return c
		}
		if c := b.Launched.Compare(a.Launched); c != 0 {
			return c
		}
		return cmp.Compare(a.Instance, b.Instance)
	})
}

// sale raises the shop beyond MAX_NODES' room and waits for the fleet at
// MAX_NODES, then checks the workers' spread over the zones.
func (z *zonesRun) sale() {
	t, e := z.t, z.e
	z.zero = e.rec.Mark(fmt.Sprintf("sale: replicas %d -> %d", e.opts.Base, e.opts.Peak))
	if err := Scale(z.ctx, e.cl.Admin, e.ns, Shop, e.opts.Peak); err != nil {
		t.Fatal(err)
	}
	z.await(t, 3*time.Minute, fmt.Sprintf("%d workers Ready", e.opts.MaxNodes), func() (bool, error) {
		return e.rec.Workers() == e.opts.MaxNodes, nil
	})
	time.Sleep(2 * e.opts.Tick)
	e.rec.Mark("steady")
	counts := e.rec.ZoneCounts()
	t.Logf("the sale's workers by zone: %v", counts)
	if why := zoneSpread(counts); why != "" {
		t.Error(why)
	}
}

// worker is a Ready worker Node of the fleet with its instance.
type worker struct {
	Name, Zone, Instance string
	Launched             time.Time
}

// workers lists the fleet's Ready workers, by name, with their instances'
// launch times from EC2.
func (z *zonesRun) workers() []worker {
	t, e := z.t, z.e
	nodes, err := e.cl.Admin.CoreV1().Nodes().List(z.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []worker
	var ids []string
	for _, n := range nodes.Items {
		if id := n.Labels[autoscaler.LabelInstanceID]; id != "" && nodeReady(&n) {
			out = append(out, worker{Name: n.Name, Zone: n.Labels[corev1.LabelTopologyZone], Instance: id})
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	desc, err := e.ec2.DescribeInstances(z.ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatal(err)
	}
	launched := map[string]time.Time{}
	for _, r := range desc.Reservations {
		for _, in := range r.Instances {
			launched[aws.ToString(in.InstanceId)] = aws.ToTime(in.LaunchTime)
		}
	}
	for i := range out {
		out[i].Launched = launched[out[i].Instance]
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// down takes the workers down (NotReady since the autoscaler's repair
// would act) once each instance is JOIN_TIMEOUT old, watches four ticks
// and a margin, and longer until alert accepts a notification (a minute
// and a half more at most), and brings them back. It fails t without such a notification,
// and if an instance of hit, or a worker of spare, is terminated or
// cordoned meanwhile.
func (z *zonesRun) down(t *testing.T, hit, spare []worker, alert func(notify.Message) bool) {
	t.Helper()
	e := z.e
	var names []string
	oldest := time.Time{}
	for _, w := range hit {
		names = append(names, w.Name)
		oldest = later(oldest, w.Launched)
	}
	if wait := time.Until(oldest.Add(joinTimeout + e.opts.Tick)); wait > 0 {
		t.Logf("waiting %s for the instances of %v to be JOIN_TIMEOUT old", wait.Round(time.Second), names)
		time.Sleep(wait)
	}
	since := time.Now().Add(-6 * time.Minute)
	e.rec.Mark(fmt.Sprintf("nodes %v NotReady (condition since %s)", names, since.UTC().Format(time.TimeOnly)))
	if err := SetNodesDown(z.ctx, e.cl.Admin, names, since); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = SetNodesUp(context.Background(), e.cl.Admin, names) })
	window := time.Now().Add(4*e.opts.Tick + 5*time.Second)
	alerted := false
	for time.Now().Before(window) || !alerted {
		if time.Now().After(window.Add(90 * time.Second)) {
			t.Errorf("no alert within %s of the fault", time.Since(window.Add(-4*e.opts.Tick-5*time.Second)).Round(time.Second))
			break
		}
		got, err := z.alerts.Poll(z.ctx)
		if err != nil {
			t.Fatal(err)
		}
		alerted = slices.ContainsFunc(got, alert)
		time.Sleep(time.Second)
	}
	z.untouched(t, hit, spare)
	e.rec.Mark(fmt.Sprintf("nodes %v Ready again", names))
	if err := SetNodesUp(z.ctx, e.cl.Admin, names); err != nil {
		t.Fatal(err)
	}
	z.await(t, time.Minute, fmt.Sprintf("%v Ready again", names), func() (bool, error) {
		return len(z.workers()) == e.opts.MaxNodes, nil
	})
}

// untouched fails t for each instance of hit or spare terminated and each
// node of spare cordoned so far.
func (z *zonesRun) untouched(t *testing.T, hit, spare []worker) {
	t.Helper()
	gone := z.e.rec.Terminated()
	for _, w := range hit {
		if _, ok := gone[w.Instance]; ok {
			t.Errorf("instance %s (node %s, NotReady) was terminated", w.Instance, w.Name)
		}
	}
	for _, w := range spare {
		if _, ok := gone[w.Instance]; ok {
			t.Errorf("instance %s (node %s, Ready, zone %s) was terminated", w.Instance, w.Name, w.Zone)
		}
		if cordoned, _ := z.e.rec.NodeSeen(w.Name); cordoned {
			t.Errorf("node %s (Ready, zone %s) was cordoned", w.Name, w.Zone)
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// ledgerNotReady: the ledger's worker alone goes NotReady; repair keeps
// it and alerts, naming the node and the volume.
func (z *zonesRun) ledgerNotReady(t *testing.T) {
	var hit, spare []worker
	for _, w := range z.workers() {
		if w.Name == z.ledger.Node {
			hit = append(hit, w)
		} else {
			spare = append(spare, w)
		}
	}
	if len(hit) != 1 {
		t.Fatalf("the ledger's node %s is not among the Ready workers", z.ledger.Node)
	}
	z.down(t, hit, spare, func(m notify.Message) bool {
		return m.Kind == autoscaler.EventRepairHeld && strings.Contains(m.Message, z.ledger.Node) && strings.Contains(m.Message, z.ledger.Volume)
	})
}

// zoneOutage: every worker of one zone goes NotReady together; repair
// holds in that zone and alerts, the other zones are left alone.
func (z *zonesRun) zoneOutage(t *testing.T) {
	workers := z.workers()
	zone := outageZone(workers, z.ledger.Node)
	if zone == "" {
		t.Fatalf("no zone with two workers or more and under a third of the fleet: %v", z.e.rec.ZoneCounts())
	}
	var hit, spare []worker
	for _, w := range workers {
		if w.Zone == zone {
			hit = append(hit, w)
		} else {
			spare = append(spare, w)
		}
	}
	t.Logf("zone %s goes down: %d of %d workers", zone, len(hit), len(workers))
	z.down(t, hit, spare, func(m notify.Message) bool {
		return m.Kind == autoscaler.EventRepairHeld && strings.Contains(m.Message, "zone "+zone)
	})
}

// outageZone picks the zone to take down: two workers or more, fewer
// than a third of the fleet (so that the fleet-wide outage rule does not
// hold repair by itself), not the ledger's if another will do.
func outageZone(workers []worker, ledgerNode string) string {
	count, ledgerZone := map[string]int{}, ""
	for _, w := range workers {
		count[w.Zone]++
		if w.Name == ledgerNode {
			ledgerZone = w.Zone
		}
	}
	best := ""
	for _, zone := range Zones {
		if n := count[zone]; n >= 2 && 3*n < len(workers) && (best == "" || best == ledgerZone) {
			best = zone
		}
	}
	return best
}

// saleOver lowers the shop to its baseline and waits for the fleet back
// at MIN_NODES: the ledger's worker must stay, never cordoned, its pod
// never evicted, a keep verdict naming it and its volume in the daemon's
// log; every other worker removed is drained first.
//
// Seen to fail so (2026-12-07, run alone with -run
// 'TestZonesAndLocalData/scale-down$'): with drain's node-local data
// detection off (a temporary change, not committed: localData and
// localStorage returning nothing, the fit simulation ignoring the PV's
// node affinity), the ledger's worker was the fifth of five victims of
// one tick, after the four empty workers: "cordoned true, Node deleted
// true, instance terminated true, the daemon's drain log [cordon
// draining evicted drained deleted node]; want none", its pod evicted,
// no keep verdict. With only the autoscaler's keep off (Node.keep
// returning nothing), drain's blocker still kept the node, and the
// missing keep verdict failed the run.
func (z *zonesRun) saleOver(t *testing.T) {
	e := z.e
	e.rec.Mark(fmt.Sprintf("sale over: replicas %d -> %d", e.opts.Peak, e.opts.Base))
	if err := Scale(z.ctx, e.cl.Admin, e.ns, Shop, e.opts.Base); err != nil {
		t.Fatal(err)
	}
	ledgerInstance := ""
	before := z.workers()
	for _, w := range before {
		if w.Name == z.ledger.Node {
			ledgerInstance = w.Instance
		}
	}
	z.await(t, 4*time.Minute, fmt.Sprintf("the workers back to %d", e.opts.MinNodes), func() (bool, error) {
		_, deleted := e.rec.NodeSeen(z.ledger.Node)
		return deleted || (e.rec.Workers() == e.opts.MinNodes && e.rec.FleetNow() <= e.opts.MinNodes), nil
	})
	time.Sleep(2 * e.opts.Tick)
	e.rec.Mark("workers back to the baseline")
	// The recorder samples every 250 ms; an empty node is cordoned,
	// drained, terminated and deleted within less: the daemon's log
	// says what it did to each node.
	acts := drainActs(e.cl.Log(e.proc, math.MaxInt))
	cordoned, deleted := e.rec.NodeSeen(z.ledger.Node)
	if _, ok := e.rec.Terminated()[ledgerInstance]; ok || cordoned || deleted || len(acts[z.ledger.Node]) > 0 {
		t.Errorf("the ledger's node %s (instance %s): cordoned %v, Node deleted %v, instance terminated %v, the daemon's drain log %v; want none",
			z.ledger.Node, ledgerInstance, cordoned, deleted, ok, acts[z.ledger.Node])
	}
	// No fault is on: every worker removed is a scale-down's, cordoned
	// and drained first, none a repair's.
	gone := e.rec.Terminated()
	for _, w := range before {
		if _, ok := gone[w.Instance]; !ok {
			continue
		}
		if cordoned, _ := e.rec.NodeSeen(w.Name); !cordoned && !slices.Contains(acts[w.Name], "drained") {
			t.Errorf("instance %s (node %s, Ready) was terminated without a drain (the daemon's drain log for it: %v)", w.Instance, w.Name, acts[w.Name])
		}
	}
	if ev := Evictions(t, e.cl.AuditLog, e.saUser); ev[e.ns+"/"+z.ledger.Pod()] {
		t.Errorf("the ledger's pod %s/%s was evicted", e.ns, z.ledger.Pod())
	}
	z.keptForItsData(t, before)
}

// keptForItsData fails t unless the scale-down removed other workers of
// before (the ledger's node was the one it would have taken first) and
// the daemon's log gives, in a tick's verdicts, the ledger's data as the
// reason its node stayed.
func (z *zonesRun) keptForItsData(t *testing.T, before []worker) {
	t.Helper()
	gone := z.e.rec.Terminated()
	var removed []string
	for _, w := range before {
		if _, ok := gone[w.Instance]; ok && w.Name != z.ledger.Node {
			removed = append(removed, w.Name)
		}
	}
	t.Logf("workers removed by the scale-down: %v", removed)
	if len(removed) == 0 {
		t.Errorf("no worker was removed: the scale-down never had to choose")
	}
	kept := keptVerdicts(z.e.cl.Log(z.e.proc, math.MaxInt), z.ledger.Node)
	if !slices.ContainsFunc(kept, func(v string) bool { return strings.Contains(v, z.ledger.Volume) }) {
		t.Errorf("no tick's verdicts in the daemon's log say node %s stays for its volume %s (its keep verdicts: %q)", z.ledger.Node, z.ledger.Volume, kept)
	} else {
		t.Logf("%d ticks kept the ledger's node; the first said: %s", len(kept), kept[0])
	}
}

// drainActs returns, by node, what the daemon's JSON log says its drain
// part did to the node ("cordon", "draining", "drained", ...), in order.
func drainActs(log string) map[string][]string {
	out := map[string][]string{}
	for line := range strings.Lines(log) {
		var l struct{ Msg, Part, Node string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Part == "drain" && l.Node != "" {
			out[l.Node] = append(out[l.Node], l.Msg)
		}
	}
	return out
}

// keptVerdicts returns the keep verdicts for node in the "tick" lines of
// the daemon's JSON log, in order.
func keptVerdicts(log, node string) []string {
	var out []string
	for line := range strings.Lines(log) {
		var l struct {
			Msg      string
			Verdicts []string
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "tick" {
			continue
		}
		for _, v := range l.Verdicts {
			if strings.HasPrefix(v, "keep (keep): node "+node+" stays: ") {
				out = append(out, v)
			}
		}
	}
	return out
}

// TestZoneSpreadFailsAnUnbalancedSale: the zone check fails a sale in
// fewer zones than the subnets' or with more than one worker between
// the fullest zone and the emptiest.
func TestZoneSpreadFailsAnUnbalancedSale(t *testing.T) {
	for _, tc := range []struct {
		workers map[string]int
		fails   bool
	}{
		{map[string]int{"us-east-1a": 3, "us-east-1b": 3, "us-east-1c": 2}, false},
		{map[string]int{"us-east-1a": 3, "us-east-1b": 3, "us-east-1c": 3}, false},
		{map[string]int{"us-east-1a": 4, "us-east-1b": 3, "us-east-1c": 2}, true},
		{map[string]int{"us-east-1a": 4, "us-east-1b": 4}, true},
		{map[string]int{"us-east-1b": 9}, true},
		{map[string]int{}, true},
		{nil, true},
	} {
		if got := zoneSpread(tc.workers); (got != "") != tc.fails {
			t.Errorf("zoneSpread(%v) = %q, want a failure %v", tc.workers, got, tc.fails)
		}
	}
}

// TestFirstVictimIsTheNewestOfTheFullestZone: the ledger goes to the
// worker the victim order takes first among workers with as many pods.
func TestFirstVictimIsTheNewestOfTheFullestZone(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	workers := []worker{
		{Name: "a-old", Zone: "us-east-1a", Instance: "i-1", Launched: at},
		{Name: "b-new", Zone: "us-east-1b", Instance: "i-2", Launched: at.Add(2 * time.Minute)},
		{Name: "a-new", Zone: "us-east-1a", Instance: "i-4", Launched: at.Add(time.Minute)},
		{Name: "a-new-too", Zone: "us-east-1a", Instance: "i-3", Launched: at.Add(time.Minute)},
	}
	if got := firstVictim(workers).Name; got != "a-new-too" {
		t.Errorf("firstVictim = %s, want a-new-too (zone us-east-1a has the most workers; of its newest, the lower instance id)", got)
	}
}
