package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/promtest"
	"github.com/node-fleet/node-fleet/internal/testenv"
)

// Mode is the system under test.
type Mode string

// The systems the scenario runs.
const (
	// ModeLambda is node-fleet's Lambda function under the emulator,
	// invoked on a schedule.
	ModeLambda Mode = "lambda"
	// ModeDaemon is node-fleet's daemon (a ticker plus a watch of
	// unschedulable pods).
	ModeDaemon Mode = "daemon"
	// ModeCalendar is the daemon with the predictive policy and the sale
	// in its calendar.
	ModeCalendar Mode = "daemon+calendar"
	// ModeKarpenter is Karpenter v1.15.0 with its kwok cloud provider.
	ModeKarpenter Mode = "karpenter"
)

// Options set a run. Zero fields take the defaults in brackets.
type Options struct {
	Mode Mode
	// MinNodes and MaxNodes bound the workers [2, 10]. Karpenter runs
	// MinNodes static nodes (its own need not go below zero) and a
	// NodePool limited to MaxNodes-MinNodes workers' CPU.
	MinNodes, MaxNodes int
	// BootDelay is the joiner's delay from running to Node [0: Karpenter's
	// kwok nodes register at once].
	BootDelay time.Duration
	// ReadyDelay holds a new worker's Node NotReady that long after it
	// registers, for both systems alike (a kwok stage for the Nodes of
	// node-fleet's joiner and of Karpenter's NodePool): the kubelet's and
	// K3s's agent start, compressed [0].
	ReadyDelay time.Duration
	// NeverJoin is the share of instances that never join [0].
	NeverJoin float64
	// Tick is the daemon's TICK_INTERVAL and the Lambda's schedule [10s].
	Tick time.Duration
	// ScaleUpCooldown [5s] and ScaleDownCooldown [15s, also
	// SCALE_DOWN_WINDOW]; the latter is Karpenter's consolidateAfter.
	ScaleUpCooldown, ScaleDownCooldown time.Duration
	// Policy is node-fleet's POLICY in the lambda and daemon modes
	// [reactive]; the calendar mode runs predictive.
	Policy string
	// Lead is how long before the sale the calendar mode's daemon learns
	// of it [75s: its PREDICTIVE_LEAD is 1m, the least allowed].
	Lead time.Duration
	// Replicas are each app's replicas before and during the sale [2, 20].
	Base, Peak int32
	// DryRun runs node-fleet with DRY_RUN=true [false]: it plans and
	// records what it would do and does none of it.
	DryRun bool
	// Earlier is the number of workers launched before node-fleet starts
	// [0], one a subnet in turn, from the launch template with the
	// fleet's tags: what a live node-fleet left running (LaunchWorkers).
	Earlier int
	// Logf, when set, prints progress.
	Logf func(format string, args ...any)
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.MinNodes == 0 {
		o.MinNodes = 2
	}
	if o.MaxNodes == 0 {
		o.MaxNodes = 10
	}
	def(&o.Tick, 10*time.Second)
	def(&o.ScaleUpCooldown, 5*time.Second)
	def(&o.ScaleDownCooldown, 15*time.Second)
	def(&o.Lead, 75*time.Second)
	if o.Policy == "" {
		o.Policy = "reactive"
	}
	if o.Base == 0 {
		o.Base = 2
	}
	if o.Peak == 0 {
		o.Peak = 20
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Result is what a run measured.
type Result struct {
	Mode    Mode
	Options Options
	// Zero is the sale's start (the replicas raised).
	Zero     time.Time
	Timeline []Event
	Measures Measures
	// Problems are the run's failed checks (empty: it passed).
	Problems []string
	// Defects are checks of the scenario that the mode is not held to:
	// reported, not failing the run. Today one: Karpenter's workers
	// spread over the zones (its kwok provider is not given the subnets'
	// zones in this harness; node-fleet's modes fail on it).
	Defects []string
	// Load is the machine's 1-minute load average at the end of the run
	// (NaN where /proc/loadavg is not there): timings on a loaded
	// machine are slower.
	Load float64
}

// loadAverage reads the 1-minute load average.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

// env is one run's world.
type env struct {
	opts    Options
	cl      *Cluster
	dyn     dynamic.Interface
	ec2     *ec2.Client
	stack   *Stack
	server  string // the K3s server's Node
	ns      string
	rec     *Recorder
	saUser  string // the autoscaler's identity in the audit log
	proc    string // the autoscaler's process name (its log)
	restart func(extra map[string]string)
	lambda  *Lambda
	earlier []string // the instances of Options.Earlier

	unplaceableLaunches int
	unplaceableReported bool
	// saleZones counts the Ready workers by zone once the sale is steady.
	saleZones map[string]int
}

func (e *env) logf(format string, args ...any) { e.opts.Logf(format, args...) }

// Run runs the flash sale once in mode opts.Mode on a control plane of its
// own and returns what it measured; a failed setup fails t, a failed check
// of the scenario is a Problem of the Result.
func Run(t testing.TB, opts Options) *Result {
	t.Helper()
	opts.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := newEnv(t, ctx, opts)

	res := &Result{Mode: opts.Mode, Options: opts}
	problem := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		res.Problems = append(res.Problems, msg)
		e.logf("%s: PROBLEM %s", opts.Mode, msg)
	}
	waitFor := func(limit time.Duration, what string, cond func() (bool, error)) bool {
		deadline := time.Now().Add(limit)
		for {
			ok, err := cond()
			if err == nil && ok {
				return true
			}
			if ex := e.cl.Exited(); len(ex) > 0 {
				problem("%v exited while waiting for %s; end of its log:\n%s", ex, what, e.cl.Log(ex[0], 4000))
				return false
			}
			if time.Now().After(deadline) {
				problem("timed out after %s waiting for %s (err %v)", limit, what, err)
				return false
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	finish := func() *Result {
		e.rec.Mark("end")
		res.Load = loadAverage()
		res.Timeline = e.rec.Timeline()
		res.Measures = e.measure(t, res.Zero)
		if len(res.Problems) == 0 {
			res.Problems = e.check(res)
		}
		if why := zoneSpread(res.Measures.ZoneWorkers); why != "" && opts.Mode == ModeKarpenter {
			// Karpenter's kwok provider is not given the subnets'
			// zones here: its spread is reported, not checked.
			res.Defects = append(res.Defects, why)
		}
		if len(res.Problems) > 0 {
			e.logf("%s: end of %s's log:\n%s", opts.Mode, e.proc, e.cl.Log(e.proc, 6000))
		}
		return res
	}

	// 1. The baseline: MinNodes workers, Base replicas of each app.
	if !waitFor(3*time.Minute, fmt.Sprintf("%d workers Ready and %d replicas of each app running", opts.MinNodes, opts.Base), func() (bool, error) {
		ok, err := AllReady(ctx, e.cl.Admin, e.ns, Shop, opts.Base)
		return ok && e.rec.Workers() == opts.MinNodes, err
	}) {
		return finish()
	}
	e.rec.Mark("baseline reached")
	// The cooldowns of the baseline's own launch pass before the sale
	// starts, as they would in a cluster that has been up for a while.
	time.Sleep(max(opts.ScaleUpCooldown, opts.ScaleDownCooldown, 5*time.Second) + time.Second)
	e.rec.Mark("cooldowns passed")

	// The calendar: the daemon is redeployed with the sale in its
	// CALENDAR, Lead ahead.
	if opts.Mode == ModeCalendar {
		saleAt := time.Now().Add(opts.Lead).Truncate(time.Second).Add(time.Second)
		// The sale lasts (as the operator knows) until the replicas go
		// back: the time to steady, the unplaceable pod's window, a margin.
		length := (3*opts.Tick + unplaceableWindow(opts) + 5*time.Second).Round(time.Second)
		entry := fmt.Sprintf("flash-sale %s %s nodes=%d", saleAt.UTC().Format(time.RFC3339), length, SaleNodes(Shop, opts.Peak))
		e.rec.Mark("daemon redeployed with CALENDAR=" + entry)
		e.restart(map[string]string{"POLICY": "predictive", "CALENDAR": entry, "PREDICTIVE_LEAD": "1m"})
		time.Sleep(time.Until(saleAt))
	}

	// 2. The sale.
	res.Zero = e.rec.Mark(fmt.Sprintf("sale: replicas %d -> %d", opts.Base, opts.Peak))
	if err := Scale(ctx, e.cl.Admin, e.ns, Shop, opts.Peak); err != nil {
		t.Fatal(err)
	}
	if !waitFor(4*time.Minute, "every pod of the sale running", func() (bool, error) {
		return AllReady(ctx, e.cl.Admin, e.ns, Shop, opts.Peak)
	}) {
		return finish()
	}
	e.rec.Mark("all pods running")

	// Steady: two ticks since, the last without a launch (a policy's own
	// follow-up to the sale, such as the predictive trend's extra node at
	// the next tick, is not the unplaceable pod's doing).
	running := time.Now()
	waitFor(3*time.Minute, "two ticks, the last without a launch", func() (bool, error) {
		return time.Since(running) >= 2*opts.Tick && len(e.rec.Launches(time.Now().Add(-opts.Tick), time.Now())) == 0, nil
	})
	e.rec.Mark("steady")
	e.saleZones = e.rec.ZoneCounts()

	// 3. A pod no worker can take: no launch for it, and it is reported.
	unplaceableAt := e.rec.Mark("unplaceable pod created (4 CPU, workers have 2)")
	if _, err := e.cl.Admin.CoreV1().Pods(e.ns).Create(ctx, UnplaceablePod("4"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(unplaceableWindow(opts))
	if l := e.rec.Launches(unplaceableAt, time.Now()); len(l) > 0 {
		problem("the unplaceable pod caused launches: %v", l)
		e.unplaceableLaunches = len(l)
	}
	// Reported: the autoscaler's log names the pod (node-fleet's
	// scheduler view warns that no new worker would help; Karpenter
	// logs that it could not schedule it).
	log := e.cl.Log(e.proc, 1<<24)
	e.unplaceableReported = strings.Contains(log, "shop/unplaceable") || strings.Contains(log, `"name":"unplaceable"`)
	if err := e.cl.Admin.CoreV1().Pods(e.ns).Delete(ctx, "unplaceable", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	e.rec.Mark("unplaceable pod deleted")

	// 4. The sale is over.
	e.rec.Mark(fmt.Sprintf("sale over: replicas %d -> %d", opts.Peak, opts.Base))
	if err := Scale(ctx, e.cl.Admin, e.ns, Shop, opts.Base); err != nil {
		t.Fatal(err)
	}
	if !waitFor(time.Minute, "the replicas back to the baseline", func() (bool, error) {
		return AllReady(ctx, e.cl.Admin, e.ns, Shop, opts.Base)
	}) {
		return finish()
	}
	e.rec.WatchDisruption(true)
	waitFor(6*time.Minute, fmt.Sprintf("the workers back to %d", opts.MinNodes), func() (bool, error) {
		return e.rec.Workers() == opts.MinNodes && e.rec.FleetNow() <= opts.MinNodes, nil
	})
	e.rec.Mark("workers back to the baseline")
	// A few more ticks: nothing goes below the floor.
	time.Sleep(2 * opts.Tick)
	e.rec.WatchDisruption(false)
	return finish()
}

// newEnv starts a control plane with the shop at opts.Base replicas, the
// system under test and a Recorder; opts has its defaults.
func newEnv(t testing.TB, ctx context.Context, opts Options) *env {
	t.Helper()
	e := &env{opts: opts, ns: "shop"}
	e.logf("%s: starting the control plane", opts.Mode)
	e.cl = StartClusterWith(t, ClusterOptions{ReadyDelay: opts.ReadyDelay})
	e.dyn = dynamic.NewForConfigOrDie(e.cl.AdminConfig)
	CreateShop(t, e.cl.Admin, e.ns, Shop, opts.Base)

	if opts.Mode == ModeKarpenter {
		e.setupKarpenter(t)
	} else {
		e.setupNodeFleet(t, ctx)
	}
	isWorker := func(n *corev1.Node) bool { return n.Name != e.server }
	e.rec = NewRecorder(ctx, RecorderConfig{Kube: e.cl.Admin, Dyn: e.dynIfKarpenter(), EC2: e.ec2, Stack: e.stack,
		Namespace: e.ns, Apps: AppNames(Shop), IsWorker: isWorker})
	return e
}

func (e *env) dynIfKarpenter() dynamic.Interface {
	if e.opts.Mode == ModeKarpenter {
		return e.dyn
	}
	return nil
}

// unplaceableWindow is how long the unplaceable pod waits for a launch
// that must not come: three ticks, 20 seconds at the least.
func unplaceableWindow(o Options) time.Duration { return max(3*o.Tick, 20*time.Second) }

// SaleNodes is the operator's estimate of the workers a sale of peak
// replicas of each app needs, for the calendar: the larger of its CPU and
// memory requests over a t3.medium's allocatable (1.93 CPU and 3.69 GiB,
// metrics.K3sReservation), rounded up, plus one for what packing wastes.
func SaleNodes(apps []App, peak int32) int {
	var cpu, mem float64
	for _, a := range apps {
		c, m := resource.MustParse(a.CPU), resource.MustParse(a.Memory)
		cpu += float64(c.MilliValue()) / 1000 * float64(peak)
		mem += float64(m.Value()) * float64(peak)
	}
	return int(math.Ceil(max(cpu/1.93, mem/(3.69*(1<<30))))) + 1
}

// setupNodeFleet makes the AWS side in moto, the RBAC of the deploy, the
// server Node, the joiner, the exporter, Prometheus, and starts the
// autoscaler as it ships.
func (e *env) setupNodeFleet(t testing.TB, ctx context.Context) {
	t.Helper()
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	awsCfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	e.ec2 = ec2.NewFromConfig(awsCfg)
	saNS, saName := ApplyAutoscalerRBAC(t, e.cl)
	e.saUser = "system:serviceaccount:" + saNS + ":" + saName
	kcPath, kc := e.cl.ServiceAccountKubeconfig(t, saNS, saName)
	cluster := "e2e-" + randomHex(4)
	e.stack = Deploy(t, awsCfg, cluster, kc)

	serverIP := e.registerServer(t, ctx)
	if e.earlier, err = LaunchWorkers(ctx, e.ec2, e.stack, e.opts.Earlier); err != nil {
		t.Fatal(err)
	}
	j, err := NewJoiner(JoinerConfig{EC2: e.ec2, Kube: e.cl.Admin, ClusterID: cluster, BootDelay: e.opts.BootDelay, NeverJoin: e.opts.NeverJoin,
		Labels: e.bootingLabels(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	go j.Run(ctx)
	exp, err := StartPodCPUExporter(ctx, e.cl.Admin, 0.5, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	prom := promtest.StartPrometheus(t, promtest.PrometheusBin(t), promtest.PrometheusOptions{Targets: []promtest.Target{{Job: "node", Addr: exp.Addr, HonorLabels: true}}})

	settings := map[string]string{
		"CLUSTER_ID": cluster, "PROMETHEUS_URL": prom.URL, "DYNAMODB_TABLE": e.stack.Table,
		"MIN_NODES": fmt.Sprint(e.opts.MinNodes), "MAX_NODES": fmt.Sprint(e.opts.MaxNodes),
		"LAUNCH_TEMPLATE_NAME": e.stack.LaunchTemplate, "SUBNET_IDS": strings.Join(e.stack.Subnets, ","),
		"SCALE_UP_COOLDOWN": e.opts.ScaleUpCooldown.String(), "SCALE_DOWN_COOLDOWN": e.opts.ScaleDownCooldown.String(),
		// The scale-down stabilisation compressed with the cooldown, as
		// Karpenter's consolidateAfter is (its default, 10 minutes,
		// would outlast the run).
		"SCALE_DOWN_WINDOW": e.opts.ScaleDownCooldown.String(),
		"DRAIN_TIMEOUT":     "30s", "LOCK_TTL": "1m", "JOIN_TIMEOUT": "3m",
		// The deploy's selector: the server's node_exporter left out of
		// the workers' CPU (deploy/stack.go).
		"PROMETHEUS_NODE_SELECTOR": fmt.Sprintf(`instance!~"%s:.*"`, serverIP),
		"POLICY":                   e.opts.Policy,
		// The workers' type: the scheduler's view sizes new workers
		// from it (the launch template's type, t3.medium).
		"INSTANCE_TYPE": e.stack.InstanceType, "WORKER_VCPU": "2", "WORKER_MEMORY_MIB": "4096",
		"SNS_TOPIC_ARN": e.stack.Topic, "DRY_RUN": fmt.Sprint(e.opts.DryRun),
		"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
	}
	switch e.opts.Mode {
	case ModeLambda:
		settings["KUBECONFIG_SECRET"] = e.stack.KubeconfigSecret
		settings["AWS_LAMBDA_FUNCTION_TIMEOUT"] = "50"
		settings["AWS_LAMBDA_FUNCTION_NAME"] = "node-fleet-autoscaler"
		settings["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
		e.proc = "lambda"
		e.lambda = StartLambda(t, e.cl, e.proc, settings)
		go e.lambda.Schedule(ctx, e.opts.Tick, scheduledEvent(t))
	default:
		settings["KUBECONFIG"] = kcPath
		settings["TICK_INTERVAL"] = e.opts.Tick.String()
		settings["LISTEN_ADDR"] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		settings["LOG_LEVEL"] = "debug"
		e.proc = "daemon"
		StartDaemon(t, e.cl, e.proc, settings)
		n := 0
		e.restart = func(extra map[string]string) {
			n++
			s := map[string]string{}
			for k, v := range settings {
				s[k] = v
			}
			for k, v := range extra {
				s[k] = v
			}
			s["LISTEN_ADDR"] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
			e.cl.StopProcess(e.proc)
			e.proc = fmt.Sprintf("daemon-%d", n)
			StartDaemon(t, e.cl, e.proc, s)
		}
	}
	e.logf("%s: cluster %s, server instance %s (node %s), autoscaler as %s", e.opts.Mode, cluster, e.stack.ServerInstance, e.server, e.saUser)
}

// registerServer creates the K3s server's Node, tainted as server-init.sh
// starts it (the server registers as a node too), sets e.server to its
// name and returns its private IP.
func (e *env) registerServer(t testing.TB, ctx context.Context) string {
	t.Helper()
	srv, err := e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{e.stack.ServerInstance}})
	if err != nil {
		t.Fatal(err)
	}
	e.server = Hostname(srv.Reservations[0].Instances[0])
	serverIP := aws.ToString(srv.Reservations[0].Instances[0].PrivateIpAddress)
	serverNode := workerNode(e.server, "2", "3891Mi", map[string]string{tagRole: roleServer, "node-role.kubernetes.io/control-plane": "true"},
		[]corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Value: "true", Effect: corev1.TaintEffectNoSchedule}})
	serverNode.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: serverIP}, {Type: corev1.NodeHostName, Address: e.server}}
	if err := createNode(ctx, e.cl.Admin, serverNode); err != nil {
		t.Fatal(err)
	}
	return serverIP
}

// bootingLabels are the labels of a new worker's Node that make kwok hold
// its Ready back (none without a ReadyDelay).
func (e *env) bootingLabels() map[string]string {
	if e.opts.ReadyDelay <= 0 {
		return nil
	}
	return map[string]string{LabelBooting: "true"}
}

// setupKarpenter applies Karpenter's CRDs, a KWOKNodeClass and a NodePool
// of node-fleet's worker size, registers the static nodes and starts
// Karpenter.
func (e *env) setupKarpenter(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	ApplyKarpenterCRDs(t, e.cl, e.dyn)
	// The K3s server, as in node-fleet's runs.
	e.server = "k3s-server"
	if err := createNode(ctx, e.cl.Admin, workerNode(e.server, "2", "3891Mi", map[string]string{tagRole: roleServer, "node-role.kubernetes.io/control-plane": "true"},
		[]corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Value: "true", Effect: corev1.TaintEffectNoSchedule}})); err != nil {
		t.Fatal(err)
	}
	// MinNodes static workers: Karpenter's NodePools have no minimum, so
	// the floor is a static group, as Karpenter is usually run.
	for i := 0; i < e.opts.MinNodes; i++ {
		if err := createNode(ctx, e.cl.Admin, workerNode(fmt.Sprintf("static-%d", i), "2", "3891Mi", nil, nil)); err != nil {
			t.Fatal(err)
		}
	}
	limitCPU := 2 * (e.opts.MaxNodes - e.opts.MinNodes)
	pool := fmt.Sprintf(`apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata:
  name: default
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: workers
spec:
  template:
    metadata:
      labels: %s
    spec:
      nodeClassRef:
        group: karpenter.kwok.sh
        kind: KWOKNodeClass
        name: default
      expireAfter: Never
      requirements:
      - {key: karpenter.kwok.sh/instance-cpu, operator: In, values: ["2"]}
      - {key: karpenter.kwok.sh/instance-memory, operator: In, values: ["4Gi"]}
      - {key: kubernetes.io/os, operator: In, values: ["linux"]}
      - {key: kubernetes.io/arch, operator: In, values: ["amd64"]}
  limits:
    cpu: "%d"
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: %s
`, nodePoolLabels(e.bootingLabels()), limitCPU, e.opts.ScaleDownCooldown)
	if err := applyYAML(ctx, e.dyn, []byte(pool)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "karpenter"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bin := testenv.Lookup(t, EnvBin, "the e2e binaries (scripts/svc/e2e.sh)")
	e.proc = "karpenter"
	e.saUser = "karpenter"
	e.cl.Start(t, e.proc, bin+"/karpenter-kwok", nil,
		"KUBECONFIG="+e.cl.KarpenterKubeconfig, "SYSTEM_NAMESPACE=karpenter", "DISABLE_LEADER_ELECTION=true",
		fmt.Sprintf("METRICS_PORT=%d", freePort(t)), fmt.Sprintf("HEALTH_PROBE_PORT=%d", freePort(t)), "LOG_LEVEL=debug")
	e.logf("karpenter: NodePool of c-2x (2 CPU, 4Gi) workers, limit %d CPU, consolidateAfter %s", limitCPU, e.opts.ScaleDownCooldown)
}

// StopProcess stops the process name started by Start (a redeploy).
func (c *Cluster) StopProcess(name string) {
	for _, p := range c.procs {
		if p.name == name && !p.exited() {
			p.stopped = true
			p.stop()
		}
	}
}

// check returns the scenario's failed guarantees.
func (e *env) check(res *Result) []string {
	var out []string
	m := res.Measures
	if states := e.rec.ServerStates(); e.stack != nil && (len(states) != 1 || states[0] != "running") {
		out = append(out, fmt.Sprintf("the K3s server instance was seen %v, want only running", states))
	}
	if m.Bypasses > 0 {
		out = append(out, fmt.Sprintf("%d pods deleted by the autoscaler without the Eviction API", m.Bypasses))
	}
	if m.MaxUnavailable > 1 {
		out = append(out, fmt.Sprintf("%d replicas of one Deployment unavailable at once during the scale-down, the budget allows 1", m.MaxUnavailable))
	}
	if m.MaxFleet > e.opts.MaxNodes {
		out = append(out, fmt.Sprintf("%d instances at once, MAX_NODES %d", m.MaxFleet, e.opts.MaxNodes))
	}
	if m.MinWorkersAfterBaseline < e.opts.MinNodes {
		out = append(out, fmt.Sprintf("%d workers at the least after the baseline, MIN_NODES %d", m.MinWorkersAfterBaseline, e.opts.MinNodes))
	}
	if m.ScaleDowns == 0 {
		out = append(out, "no node was removed after the sale")
	}
	if e.stack != nil && m.UndeletedNodes > 0 {
		out = append(out, fmt.Sprintf("%d terminated instances kept their Node", m.UndeletedNodes))
	}
	if e.opts.ReadyDelay > 0 && m.BoundBeforeReady > 0 {
		out = append(out, fmt.Sprintf("%d pods bound to a worker before it was Ready (ReadyDelay %s)", m.BoundBeforeReady, e.opts.ReadyDelay))
	}
	if why := zoneSpread(m.ZoneWorkers); why != "" && e.stack != nil && m.ZoneWorkers != nil {
		out = append(out, why)
	}
	if errs := e.rec.Errors(); len(errs) > 10 {
		out = append(out, fmt.Sprintf("%d failed reads by the recorder, e.g. %s", len(errs), errs[0]))
	}
	return out
}

// zoneSpread returns what is wrong with the sale's workers per zone: a
// subnet's zone without one, or more than one worker between the zone
// with most and the one with fewest (cluster-autoscaler's balancing and
// kube-scheduler's maxSkew 1 ask as much); "" when neither.
func zoneSpread(workers map[string]int) string {
	lo, hi := math.MaxInt, 0
	for _, z := range Zones {
		lo, hi = min(lo, workers[z]), max(hi, workers[z])
	}
	if lo == 0 || hi-lo > 1 {
		return fmt.Sprintf("the sale's workers by zone are %v, want every one of the subnets' zones %v with max - min <= 1", workers, Zones)
	}
	return ""
}

// nodePoolLabels writes labels as a YAML flow mapping.
func nodePoolLabels(labels map[string]string) string {
	var kv []string
	for k, v := range labels {
		kv = append(kv, fmt.Sprintf("%q: %q", k, v))
	}
	sort.Strings(kv)
	return "{" + strings.Join(kv, ", ") + "}"
}
