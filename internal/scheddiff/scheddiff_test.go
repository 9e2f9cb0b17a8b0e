package scheddiff

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/internal/e2e"
	"github.com/node-fleet/node-fleet/metrics"
)

// Settings, from the environment.
const (
	envSeed  = "NODEFLEET_SCHEDDIFF_SEED"  // default 1
	envCases = "NODEFLEET_SCHEDDIFF_CASES" // default 520
	envBatch = "NODEFLEET_SCHEDDIFF_BATCH" // cases per batch, default 175
)

// The two ways the view and kube-scheduler can disagree about a pending
// pod and a new worker in zone Z.
const (
	viewSaysNo  = "view: no new worker in Z helps; kube-scheduler binds the pod to one"
	viewSaysYes = "view: a new worker in Z helps; kube-scheduler leaves the pod pending beside one"
)

// known is a disagreement the view is known to have today: a case whose
// pod uses mech and where the view answers as dir is excused, with why.
type known struct {
	mech, dir, why string
}

// knownDisagreements are the rules kube-scheduler applies that the view
// does not (yet) model, or models differently. A disagreement that none
// of them explains fails the test; when the view learns a rule, its entry
// goes (ephemeral storage, volume zones and node-local volumes went when
// the view learnt them). The why of each remaining entry was written
// before the view learnt zones, affinity and spread; the cases it still
// excuses (docs/reliability.md) are residues not yet analysed one by one.
var knownDisagreements = []known{
	{mechZoneSelector, viewSaysNo, "a new worker's template has no zone label (it is dropped as per-node), so a nodeSelector or an In affinity on topology.kubernetes.io/zone matches no new worker in the view, though the worker launched in that zone carries it"},
	{mechZoneSelector, viewSaysYes, "the view has no zones (PendingPod.Zones stays empty): a NotIn affinity on the zone is met by every new worker in the view, not by one in the excluded zone"},
	{mechSpread, viewSaysYes, "the view ignores topology spread constraints (PodTopologySpread with DoNotSchedule): a new worker in a zone that would raise the skew does not help"},
	{mechAntiAffinity, viewSaysYes, "the view models required pod anti-affinity only on the hostname (PendingPod.Apart); on the zone, a new worker in a zone with a matching pod does not help"},
	{mechPodAffinity, viewSaysYes, "the view ignores required pod affinity: a new, empty worker never satisfies one on the hostname, nor one on a zone without matching pods"},
	{mechLearnedLabels, viewSaysYes, "the view's new worker carries the labels every Ready worker shares, those an operator added by hand included; the worker the launch template makes does not"},
	{mechLearnedLabels, viewSaysNo, "the view's new worker carries the labels and taints every Ready worker shares (a hand-added taint, a label a DoesNotExist affinity excludes); the worker the launch template makes does not"},
}

// outcome is what became of one case.
type outcome struct {
	w        *world
	existing string // the existing node the scheduler bound the pod to, when it did at once
	decided  bool   // the scheduler bound it or marked it unschedulable in time
	probed   bool
	viewYes  bool   // the view: a new worker in the probe zone helps
	viewWhy  string // the view's Unplaceable reason, or its zones
	schedYes bool   // kube-scheduler bound the pod to the new worker
	elsewise string // an existing node it was bound to once the new worker came (not expected)
	message  string // the pod's last PodScheduled message
	stale    bool   // the scheduler never tried the pod again with its new worker there
	template autoscaler.WorkerTemplate
	learned  []string // what the view's new worker has that the real one has not
}

func (o *outcome) agrees() bool { return o.viewYes == o.schedYes }

// explanations returns the mechanisms of the case that can explain its
// disagreement, and whether one of them is a known disagreement.
func (o *outcome) explanations() ([]string, bool) {
	dir := viewSaysYes
	if !o.viewYes {
		dir = viewSaysNo
	}
	mech := maps.Clone(o.w.mech)
	if len(o.learned) > 0 {
		mech[mechLearnedLabels] = true
	}
	var out []string
	isKnown := false
	for _, m := range slices.Sorted(maps.Keys(mech)) {
		for _, k := range knownDisagreements {
			if k.mech == m && k.dir == dir {
				isKnown = true
			}
		}
		out = append(out, m)
	}
	return out, isKnown
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// TestViewAgreesWithKubeScheduler is the differential test of the
// scheduler view against kube-scheduler v1.37.2. It draws random cases
// (seeded: NODEFLEET_SCHEDDIFF_SEED, NODEFLEET_SCHEDDIFF_CASES), each a
// world of one or two workers of one instance type over three zones
// (labels, hand-added labels and taints, a launch template's taint, maybe
// a worker of another type), partly filled by pods bound to them, and a
// pod with CPU, memory and ephemeral-storage requests, nodeSelectors,
// required node affinity, tolerations, a zone topology spread, pod
// (anti-)affinity on the zone or the hostname, and a claim bound to a
// zonal or a node-local volume. kube-scheduler places the pods; for each
// one it leaves pending, the view (metrics.KubeScheduler, read as a black
// box) says whether a new worker in a drawn zone Z would take it
// (Placeable, and Z among PendingPod.Zones when it names any); then such a
// worker joins, as the launch template makes it, and kube-scheduler binds
// the pod to it or not. The test logs the agreement rate and each class
// of disagreement, and fails on a disagreement that no entry of
// knownDisagreements explains.
func TestViewAgreesWithKubeScheduler(t *testing.T) {
	seed := envInt(t, envSeed, 1)
	cases := envInt(t, envCases, 520)
	batch := envInt(t, envBatch, 175)
	t.Logf("seed %d, %d cases in batches of %d (rerun: %s=%d %s=%d go test -run TestViewAgreesWithKubeScheduler -v ./internal/scheddiff/)",
		seed, cases, batch, envSeed, seed, envCases, cases)
	start := time.Now()
	c := e2e.StartCluster(t)
	cfg := *c.AdminConfig
	cfg.QPS, cfg.Burst = 400, 800
	cs := kubernetes.NewForConfigOrDie(&cfg)
	ctx := t.Context()
	const ns = "difftest"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Pods need the namespace's ServiceAccount (the controller-manager
	// makes it).
	waitFor(t, 60*time.Second, "the namespace's default ServiceAccount", func() (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	t.Logf("control plane up in %.1fs", time.Since(start).Seconds())

	var all []*outcome
	for b := 0; b*batch < cases; b++ {
		var worlds []*world
		for i := b * batch; i < min(cases, (b+1)*batch); i++ {
			worlds = append(worlds, newWorld(uint64(seed), i, ns, fmt.Sprintf("b%d", b)))
		}
		all = append(all, runBatch(t, ctx, cs, ns, worlds)...)
	}
	report(t, all, time.Since(start))
}

// runBatch runs a batch of worlds through the scheduler and the view.
func runBatch(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns string, worlds []*world) []*outcome {
	t.Helper()
	batch := worlds[0].batch
	start := time.Now()
	sel := metav1.ListOptions{LabelSelector: labelBatch + "=" + batch}
	var pvs []*corev1.PersistentVolume
	var pvcs []*corev1.PersistentVolumeClaim
	var nodes []*corev1.Node
	var fillers []*corev1.Pod
	for _, w := range worlds {
		if w.pv != nil {
			pvs, pvcs = append(pvs, w.pv), append(pvcs, w.pvc)
		}
		nodes = append(nodes, w.nodes...)
		fillers = append(fillers, w.fillers...)
	}
	create(t, pvs, func(v *corev1.PersistentVolume) error {
		_, err := cs.CoreV1().PersistentVolumes().Create(ctx, v, metav1.CreateOptions{})
		return err
	})
	create(t, pvcs, func(v *corev1.PersistentVolumeClaim) error {
		_, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, v, metav1.CreateOptions{})
		return err
	})
	create(t, nodes, func(n *corev1.Node) error { return register(ctx, cs, n) })
	create(t, fillers, func(p *corev1.Pod) error {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		return err
	})
	waitNodes(t, ctx, cs, sel, len(nodes))
	waitFor(t, 90*time.Second, "the claims Bound", func() (bool, error) {
		l, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, sel)
		if err != nil {
			return false, err
		}
		for _, c := range l.Items {
			if c.Status.Phase != corev1.ClaimBound {
				return false, nil
			}
		}
		return len(l.Items) == len(pvcs), nil
	})
	// The fillers are bound already: the scheduler's cache has them as
	// soon as its informer sees them, well within this pause.
	time.Sleep(2 * time.Second)
	setUp := time.Since(start)

	// The pods under test: the scheduler binds each or marks it
	// unschedulable.
	out := make([]*outcome, len(worlds))
	byName := map[string]*outcome{}
	var tests []*corev1.Pod
	for i, w := range worlds {
		out[i] = &outcome{w: w}
		byName[w.pod.Name] = out[i]
		tests = append(tests, w.pod)
	}
	create(t, tests, func(p *corev1.Pod) error {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		return err
	})
	tsel := metav1.ListOptions{LabelSelector: labelBatch + "=" + batch + "," + labelRole + "=test"}
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := cs.CoreV1().Pods(ns).List(ctx, tsel)
		if err != nil {
			t.Fatal(err)
		}
		undecided := 0
		for i := range l.Items {
			p := &l.Items[i]
			o := byName[p.Name]
			o.existing = p.Spec.NodeName
			o.decided = p.Spec.NodeName != "" || metrics.Unschedulable(p)
			if !o.decided {
				undecided++
			}
		}
		if undecided == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	scheduled := time.Since(start)

	// The view of each world with a pending pod, from one read of the
	// cluster.
	snap, err := takeSnapshot(ctx, cs, sel.LabelSelector)
	if err != nil {
		t.Fatal(err)
	}
	var probes []*corev1.Node
	for _, o := range out {
		if !o.decided || o.existing != "" {
			continue
		}
		w := o.w
		var taints []autoscaler.Taint
		for _, tn := range w.taints {
			taints = append(taints, autoscaler.Taint{Key: tn.Key, Value: tn.Value, Effect: string(tn.Effect)})
		}
		k, err := metrics.NewKubeScheduler(metrics.KubeSchedulerConfig{
			Client: snap, Namespace: ns, InstanceType: w.class.typ, Workers: labelWorld + "=" + w.name,
			WorkerLabels: w.workerLabels(), WorkerTaints: taints, VCPU: w.class.vcpu, MemoryMiB: w.class.memoryMiB,
			// The fleet's subnets span the three zones, as config gives
			// the view through ec2fleet (FleetZones).
			Zones: zones,
		})
		if err != nil {
			t.Fatal(err)
		}
		view, _, err := k.View(ctx)
		if err != nil || view == nil {
			t.Fatalf("view of world %s: %v (view %v)", w.name, err, view)
		}
		o.template = view.Template
		i := slices.IndexFunc(view.Pending, func(p autoscaler.PendingPod) bool { return p.Name == w.pod.Name })
		if i < 0 {
			t.Fatalf("world %s: pod %s is unschedulable but not among the view's pending pods", w.name, w.pod.Name)
		}
		pp := view.Pending[i]
		placeable := slices.ContainsFunc(view.Placeable(), func(p autoscaler.PendingPod) bool { return p.Name == w.pod.Name })
		o.viewYes = placeable && (len(pp.Zones) == 0 || slices.Contains(pp.Zones, w.probeZone))
		switch {
		case !placeable:
			o.viewWhy = pp.Unplaceable
		case len(pp.Zones) > 0:
			o.viewWhy = "placeable in zones " + strings.Join(pp.Zones, ",")
		default:
			o.viewWhy = "placeable in any zone"
		}
		o.probed = true
		probes = append(probes, w.probe(ns))
	}
	viewed := time.Since(start)

	// A new worker in the probe zone for each pending pod.
	create(t, probes, func(n *corev1.Node) error { return register(ctx, cs, n) })
	psel := metav1.ListOptions{LabelSelector: labelBatch + "=" + batch + "," + labelRole + "=probe"}
	joined := waitNodes(t, ctx, cs, psel, len(probes))
	for _, o := range out {
		if o.probed {
			o.learned = learned(o.template, joined[o.w.probe(ns).Name], o.w)
		}
	}
	tried := time.Since(start)
	// A pod pending beside its new worker is settled once the scheduler
	// has tried it again with every new worker there (its message counts
	// them: "0/N nodes are available") and a few seconds have passed
	// since they became schedulable (a retry between a worker's creation
	// and the removal of admission's not-ready taint is followed by
	// another); a bound pod is settled at once. A pod whose rejecting
	// plugin's queueing hint says the new node cannot help is not tried
	// again: past the scheduler's longest back-off (10 s) it is settled
	// too.
	total, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	minimum := time.Now().Add(4 * time.Second)
	limit := time.Now().Add(15 * time.Second)
	for {
		pending := observe(t, ctx, cs, ns, tsel, byName, len(total.Items))
		if (pending == 0 && time.Now().After(minimum)) || time.Now().After(limit) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	settled := time.Since(start)
	late := recheck(t, ctx, cs, ns, out, len(total.Items))
	t.Logf("batch %s: %d cases, %d nodes; set up %.1fs, scheduled %.1fs, viewed %.1fs, %d new workers Ready %.1fs, settled %.1fs, %d rechecked %.1fs",
		batch, len(worlds), len(nodes), setUp.Seconds(), scheduled.Seconds(), viewed.Seconds(), len(probes), tried.Seconds(), settled.Seconds(), late, time.Since(start).Seconds())

	// The batch's objects stay: the worlds of the next batch do not see
	// them, and deleting hundreds of objects costs more than the
	// scheduler's filtering them out.
	return out
}

// observe reads the batch's pods under test into their outcomes and
// returns how many probed ones are neither bound nor tried again with
// all of the cluster's nodes (the new workers among them).
func observe(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns string, sel metav1.ListOptions, byName map[string]*outcome, nodes int) int {
	t.Helper()
	l, err := cs.CoreV1().Pods(ns).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	pending := 0
	for i := range l.Items {
		p := &l.Items[i]
		o := byName[p.Name]
		if o == nil || !o.probed {
			continue
		}
		record(o, p, ns)
		var seen int
		if p.Spec.NodeName == "" {
			if _, err := fmt.Sscanf(o.message, "0/%d nodes are available", &seen); err != nil || seen < nodes {
				pending++
			}
		}
	}
	return pending
}

func record(o *outcome, p *corev1.Pod, ns string) {
	probe := o.w.probe(ns).Name
	o.schedYes = p.Spec.NodeName == probe
	if p.Spec.NodeName != "" && p.Spec.NodeName != probe {
		o.elsewise = p.Spec.NodeName
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			o.message = c.Message
		}
	}
}

// recheck gives the pods the view said a new worker helps and that are
// still pending, with no known disagreement to explain it, more time: up
// to 30 s for the scheduler to try them again with the new workers there
// (a busy scheduler on a loaded machine lags), so that slowness is not
// taken for a disagreement. A pod the scheduler has still not tried
// again by then has no verdict: it counts as stale, not as a
// disagreement. It returns how many it rechecked.
func recheck(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns string, all []*outcome, nodes int) int {
	t.Helper()
	var late []*outcome
	for _, o := range all {
		if o.probed && o.viewYes && !o.schedYes {
			if _, ok := o.explanations(); !ok {
				late = append(late, o)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(late) > 0 {
		var still []*outcome
		for _, o := range late {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, o.w.pod.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			record(o, p, ns)
			var seen int
			if _, err := fmt.Sscanf(o.message, "0/%d nodes are available", &seen); p.Spec.NodeName == "" && (err != nil || seen < nodes) {
				still = append(still, o)
			}
		}
		if len(still) == 0 || time.Now().After(deadline) {
			for _, o := range still {
				o.stale = true
			}
			break
		}
		late = still
		time.Sleep(time.Second)
	}
	return len(late)
}

// learned returns what the view's new worker has that the real new
// worker (the launch template's, as it registered) has not: labels and
// NoSchedule or NoExecute taints learnt from today's workers.
func learned(tpl autoscaler.WorkerTemplate, probe *corev1.Node, w *world) []string {
	want := probe.Labels
	var out []string
	for _, k := range slices.Sorted(maps.Keys(tpl.Labels)) {
		if v, ok := want[k]; !ok || v != tpl.Labels[k] {
			out = append(out, "label "+k+"="+tpl.Labels[k])
		}
	}
	for _, tn := range tpl.Taints {
		if !slices.ContainsFunc(w.taints, func(c corev1.Taint) bool {
			return c.Key == tn.Key && c.Value == tn.Value && string(c.Effect) == tn.Effect
		}) {
			out = append(out, "taint "+tn.String())
		}
	}
	return out
}

// report logs the agreement and the classes of disagreement, and fails t
// on the unexplained ones.
func report(t *testing.T, all []*outcome, took time.Duration) {
	t.Helper()
	var existing, undecided, probed, agree, elsewise int
	matrix := map[[2]bool]int{}
	classes := map[string][]*outcome{}
	var unexplained []*outcome
	for _, o := range all {
		switch {
		case !o.decided || o.stale:
			undecided++
			continue
		case o.existing != "":
			existing++
			continue
		}
		probed++
		matrix[[2]bool{o.viewYes, o.schedYes}]++
		if o.elsewise != "" {
			elsewise++
		}
		if o.agrees() {
			agree++
			continue
		}
		dir := viewSaysYes
		if !o.viewYes {
			dir = viewSaysNo
		}
		mech, ok := o.explanations()
		key := dir + " [" + strings.Join(mech, "+") + "]"
		if !ok {
			key = dir + " [UNEXPLAINED: " + strings.Join(mech, "+") + "]"
			unexplained = append(unexplained, o)
		}
		classes[key] = append(classes[key], o)
	}
	t.Logf("%d cases in %.0fs: %d bound at once to an existing node (the view reads the scheduler's verdict there), %d left pending and tried on a new worker, %d without a verdict in time (not bound nor marked unschedulable, or never tried again with the new worker)",
		len(all), took.Seconds(), existing, probed, undecided)
	if probed == 0 {
		t.Fatal("no pod was left pending: the cases test nothing")
	}
	t.Logf("AGREEMENT on the pending pods: %d of %d (%.1f%%)", agree, probed, 100*float64(agree)/float64(probed))
	t.Logf("  view yes, scheduler yes: %d; view no, scheduler no: %d; view yes, scheduler no: %d; view no, scheduler yes: %d",
		matrix[[2]bool{true, true}], matrix[[2]bool{false, false}], matrix[[2]bool{true, false}], matrix[[2]bool{false, true}])
	if elsewise > 0 {
		t.Logf("  %d pods went to an existing node once the new worker came", elsewise)
	}
	for _, key := range slices.Sorted(maps.Keys(classes)) {
		cs := classes[key]
		t.Logf("DISAGREEMENT %d× %s", len(cs), key)
		for _, o := range cs[:min(2, len(cs))] {
			t.Logf("    e.g. %s", describe(o))
		}
	}
	for _, k := range knownDisagreements {
		seen := false
		for key := range classes {
			seen = seen || (strings.HasPrefix(key, k.dir) && strings.Contains(key, k.mech))
		}
		if !seen {
			t.Logf("known disagreement not seen in this run: %s, %s", k.mech, k.dir)
		}
	}
	if undecided > len(all)/50 {
		t.Errorf("%d of %d pods without a verdict of the scheduler in time, want at most 2%%", undecided, len(all))
	}
	for _, o := range unexplained {
		t.Errorf("unexplained disagreement: %s", describe(o))
	}
}

// describe prints a case on one line.
func describe(o *outcome) string {
	w := o.w
	var b strings.Builder
	fmt.Fprintf(&b, "world %s (%s", w.name, w.class.typ)
	for _, n := range w.nodes {
		fmt.Fprintf(&b, "; %s %s %s", strings.TrimPrefix(n.Name, "difftest-"+w.name+"-"), n.Labels[corev1.LabelTopologyZone], n.Labels[labelDisk])
		for _, tn := range n.Spec.Taints {
			fmt.Fprintf(&b, " %s", tn.ToString())
		}
	}
	p := w.pod
	fmt.Fprintf(&b, ") pod requests %v", p.Spec.Containers[0].Resources.Requests)
	if len(p.Spec.NodeSelector) > 1 {
		fmt.Fprintf(&b, " nodeSelector %v", p.Spec.NodeSelector)
	}
	if a := p.Spec.Affinity; a != nil {
		if a.NodeAffinity != nil {
			fmt.Fprintf(&b, " nodeAffinity %v", a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions)
		}
		if a.PodAntiAffinity != nil {
			fmt.Fprintf(&b, " antiAffinity(%s)", a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey)
		}
		if a.PodAffinity != nil {
			fmt.Fprintf(&b, " affinity(%s)", a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey)
		}
	}
	if len(p.Spec.TopologySpreadConstraints) > 0 {
		fmt.Fprintf(&b, " spread(maxSkew %d)", p.Spec.TopologySpreadConstraints[0].MaxSkew)
	}
	if w.pv != nil {
		fmt.Fprintf(&b, " volume %v", w.pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values)
	}
	fmt.Fprintf(&b, "; new worker in %s; view: %s", w.probeZone, o.viewWhy)
	if len(o.learned) > 0 {
		fmt.Fprintf(&b, " (its worker has %s)", strings.Join(o.learned, ", "))
	}
	if o.schedYes {
		b.WriteString("; kube-scheduler bound it to the new worker")
	} else {
		fmt.Fprintf(&b, "; kube-scheduler: %s", o.message)
	}
	return b.String()
}

// create creates the objects, a few at a time.
func create[T any](t *testing.T, objs []T, fn func(T) error) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 32)
	for _, o := range objs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(o); err != nil && !apierrors.IsAlreadyExists(err) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d creations failed, the first: %v", len(errs), errs[0])
	}
}

// register creates the node as a kubelet that has started: Ready, with
// its phase Running (kwok's heartbeat keeps it so), and its taints as
// given, without the node.kubernetes.io/not-ready taint that admission
// puts on every new Node and that the node lifecycle controller would
// take away only after a while on a loaded machine.
func register(ctx context.Context, cs kubernetes.Interface, n *corev1.Node) error {
	n = n.DeepCopy()
	now := metav1.Now()
	n.Status.Phase = corev1.NodeRunning
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: now, LastTransitionTime: now}}
	created, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if len(created.Spec.Taints) == len(n.Spec.Taints) {
		return nil
	}
	taints := n.Spec.Taints
	if taints == nil {
		taints = []corev1.Taint{}
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"taints": taints}})
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// waitNodes waits until the n nodes sel selects are Ready and free of the
// node lifecycle's taints (node.kubernetes.io/not-ready and the like).
func waitNodes(t *testing.T, ctx context.Context, cs kubernetes.Interface, sel metav1.ListOptions, n int) map[string]*corev1.Node {
	t.Helper()
	out := map[string]*corev1.Node{}
	waitFor(t, 120*time.Second, fmt.Sprintf("%d nodes (%s) Ready and untainted", n, sel.LabelSelector), func() (bool, error) {
		l, err := cs.CoreV1().Nodes().List(ctx, sel)
		if err != nil {
			return false, err
		}
		if len(l.Items) != n {
			return false, nil
		}
		for _, node := range l.Items {
			ready := false
			for _, c := range node.Status.Conditions {
				ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
			}
			if !ready || slices.ContainsFunc(node.Spec.Taints, func(tn corev1.Taint) bool { return strings.HasPrefix(tn.Key, "node.kubernetes.io/") }) {
				return false, nil
			}
		}
		for i := range l.Items {
			out[l.Items[i].Name] = &l.Items[i]
		}
		return true, nil
	})
	return out
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, limit)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
