package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/promtest"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/state"
)

// burstPods is how many pods become unschedulable at once in
// TestDaemonBurstOfUnschedulablePods.
const burstPods = 40

// apiRequest is one request the daemon sent to the API server, as the
// recording proxy saw it.
type apiRequest struct {
	start, end time.Time
	method     string
	path       string
	watch      bool
}

// recordingProxy forwards the daemon's API requests to the test
// kube-apiserver and records each one's start and end.
type recordingProxy struct {
	mu   sync.Mutex
	reqs []apiRequest
	next http.Handler
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p.next.ServeHTTP(w, r)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, apiRequest{start: start, end: time.Now(), method: r.Method, path: r.URL.RequestURI(),
		watch: r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1"})
}

// between returns the requests that started in [from, to], watches left out.
func (p *recordingProxy) between(from, to time.Time) []apiRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []apiRequest
	for _, r := range p.reqs {
		if !r.watch && !r.start.Before(from) && !r.start.After(to) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// emptyPrometheus answers every query with an empty vector: every
// Prometheus metric is missing (safety mode: no scale-down), and pending
// pods come from the API.
func emptyPrometheus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
}

// logLine is one JSON line of the daemon's log.
type logLine struct {
	Time    time.Time `json:"time"`
	Msg     string    `json:"msg"`
	Outcome string    `json:"outcome"`
	Pod     string    `json:"pod"`
	Result  string    `json:"result"`
}

func daemonLog(out string) []logLine {
	var lines []logLine
	for _, l := range strings.Split(out, "\n") {
		var ll logLine
		if json.Unmarshal([]byte(l), &ll) == nil && ll.Msg != "" {
			lines = append(lines, ll)
		}
	}
	return lines
}

// TestDaemonBurstOfUnschedulablePods measures the daemon's pending-to-launch
// time: the daemon process runs against moto's EC2 and DynamoDB and the
// test kube-apiserver (through a proxy that records its requests), burstPods
// pods become unschedulable at once, and the test waits for the launch in
// EC2. It logs the time from the first unschedulable pod to the launch,
// the ticks in between and the API requests each made (docs/benchmarks.md,
// "The API server's rate limit"). NODEFLEET_DAEMON_BIN measures a daemon
// binary built elsewhere (another commit) instead of this tree's.
func TestDaemonBurstOfUnschedulablePods(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	kube := kubetest.Connect(t)
	ctx := t.Context()

	// AWS resources in moto: the network, the launch template, the table.
	awsCfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	cluster := kubetest.Name("burst")
	ec2c := ec2.NewFromConfig(awsCfg)
	imgs, err := ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("describe images: %v", err)
	}
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.31.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	var subnets []string
	for i, z := range []string{"us-east-1a", "us-east-1b"} {
		s, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String(z), CidrBlock: aws.String(fmt.Sprintf("10.31.%d.0/24", i+1))})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, aws.ToString(s.Subnet.SubnetId))
	}
	template := "workers-" + cluster
	if _, err := ec2c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(template),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: imgs.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Medium}}); err != nil {
		t.Fatal(err)
	}
	table := cluster + "-state"
	if err := state.CreateTable(ctx, dynamodb.NewFromConfig(awsCfg), table, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	instances := func() int {
		t.Helper()
		res, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
			{Name: aws.String("tag:" + ec2fleet.TagCluster), Values: []string{cluster}},
			{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, rv := range res.Reservations {
			n += len(rv.Instances)
		}
		return n
	}

	// The API server behind the recording proxy, which adds the test
	// cluster's token, and a kubeconfig for the proxy.
	target, err := url.Parse(kube.Config.Host)
	if err != nil || kube.Config.BearerToken == "" {
		t.Skipf("the test kubeconfig (server %q) has no bearer token for the proxy to pass on", kube.Config.Host)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Header.Set("Authorization", "Bearer "+kube.Config.BearerToken)
	}}
	rp.FlushInterval = -1                                                                  // watches stream
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the loopback test server's own certificate
	proxy := &recordingProxy{next: rp}
	proxySrv := httptest.NewServer(proxy)
	// Closed after the daemon is killed (cleanups run last first): its
	// watch holds a connection open until then.
	t.Cleanup(func() {
		proxySrv.CloseClientConnections()
		proxySrv.Close()
	})
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: proxy, cluster: {server: %q}}]
contexts: [{name: proxy, context: {cluster: proxy}}]
current-context: proxy
`, proxySrv.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	promSrv := httptest.NewServer(http.HandlerFunc(emptyPrometheus))
	t.Cleanup(promSrv.Close)

	bin := os.Getenv("NODEFLEET_DAEMON_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "daemon")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-tick-interval", "1m", "-listen-addr", addr)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"CLUSTER_ID=" + cluster, "PROMETHEUS_URL=" + promSrv.URL, "DYNAMODB_TABLE=" + table,
		// More pending pods than other tests' on the shared API server
		// ever have, fewer than the burst's.
		"PENDING_PODS_SOURCE=api", fmt.Sprintf("PENDING_PODS_THRESHOLD=%d", burstPods/2),
		"MIN_NODES=0", "MAX_NODES=10", "SCALE_UP_COOLDOWN=0s",
		"LAUNCH_TEMPLATE_NAME=" + template, "SUBNET_IDS=" + strings.Join(subnets, ","),
		"KUBECONFIG=" + kubeconfig, "KUBE_FEATURE_WatchListClient=false",
		"AWS_ENDPOINT_URL=" + endpoint, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
	}
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("daemon output:\n%s", out)
		}
	})

	// Its first tick (at once) holds: nothing pending of its own yet.
	promtest.WaitFor(t, 60*time.Second, "the daemon's first tick", func(context.Context) bool {
		for _, ll := range daemonLog(out.String()) {
			if ll.Msg == "tick" {
				return true
			}
		}
		return false
	})
	time.Sleep(6 * time.Second) // past the watch's minimum gap between triggers
	before := instances()
	if before != 0 {
		t.Fatalf("%d instances launched before the burst", before)
	}
	ticksBefore := 0
	for _, ll := range daemonLog(out.String()) {
		if ll.Msg == "tick" {
			ticksBefore++
		}
	}

	// The burst: burstPods pods created and marked unschedulable at once.
	ns := kube.Namespace(t, "burst")
	var mu sync.Mutex
	var sent, marked []time.Time // a status update's request and answer
	var wg sync.WaitGroup
	errs := make(chan error, burstPods)
	for i := range burstPods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pods := kube.Client.CoreV1().Pods(ns)
			pod, err := pods.Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%02d", i)},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app"}}},
			}, metav1.CreateOptions{})
			if err != nil {
				errs <- err
				return
			}
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
				Message: "0/3 nodes are available", LastTransitionTime: metav1.Now()}}
			start := time.Now()
			if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
				errs <- err
				return
			}
			mu.Lock()
			sent, marked = append(sent, start), append(marked, time.Now())
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sort.Slice(sent, func(i, j int) bool { return sent[i].Before(sent[j]) })
	sort.Slice(marked, func(i, j int) bool { return marked[i].Before(marked[j]) })
	// From the first status update sent: the watch may see it before the
	// test has the answer.
	first, last := sent[0], marked[len(marked)-1]

	// The launch, as EC2 sees it.
	var launched time.Time
	promtest.WaitFor(t, 60*time.Second, "a launch after the burst", func(context.Context) bool {
		if instances() > before {
			launched = time.Now()
			return true
		}
		return false
	})

	// What the daemon did meanwhile, from its log and the proxy. The
	// tick logs its outcome after its last state write, a little after
	// the instance appears in EC2: wait for the line.
	var trigger, scaled time.Time
	var ticks []logLine
	parse := func() {
		trigger, scaled, ticks = time.Time{}, time.Time{}, nil
		for _, ll := range daemonLog(out.String()) {
			switch {
			case ll.Msg == "unschedulable pod, tick soon" && strings.HasPrefix(ll.Pod, ns+"/") && trigger.IsZero():
				trigger = ll.Time
			case ll.Msg == "tick" && !ll.Time.Before(first.Add(-time.Second)):
				ticks = append(ticks, ll)
				if ll.Outcome == string(autoscaler.OutcomeScaledUp) && scaled.IsZero() {
					scaled = ll.Time
				}
			}
		}
	}
	promtest.WaitFor(t, 30*time.Second, "the scaled-up tick's log line", func(context.Context) bool {
		parse()
		return !scaled.IsZero()
	})
	if trigger.IsZero() {
		t.Fatalf("the daemon logged no tick asked for by a pod of %s", ns)
	}
	if scaled.IsZero() {
		t.Fatalf("instances in EC2 went from %d to more, but the daemon logged no %s tick after the burst", before, autoscaler.OutcomeScaledUp)
	}
	reqs := proxy.between(trigger, scaled)
	if len(reqs) == 0 {
		t.Fatal("the proxy saw no request between the trigger and the launch: the daemon does not use it")
	}
	var gaps []string
	var longest time.Duration
	for i, r := range reqs {
		gap := time.Duration(0)
		if i > 0 {
			gap = r.start.Sub(reqs[i-1].end)
		}
		longest = max(longest, gap)
		gaps = append(gaps, fmt.Sprintf("%s %s (+%s, %s)", r.method, strings.SplitN(r.path, "?", 2)[0], gap.Round(time.Millisecond), r.end.Sub(r.start).Round(time.Millisecond)))
	}
	t.Logf("daemon %s: %d pods made unschedulable within %s; from the first status update sent to the trigger %s, to the scale-up tick's end %s, to the instance in EC2 %s; %d ticks from the burst to the launch (%d before it)",
		bin, burstPods, last.Sub(first).Round(time.Millisecond), trigger.Sub(first).Round(time.Millisecond),
		scaled.Sub(first).Round(time.Millisecond), launched.Sub(first).Round(time.Millisecond), len(ticks), ticksBefore)
	t.Logf("API requests from the trigger to the launch: %d, longest gap between two %s:\n  %s", len(reqs), longest.Round(time.Millisecond), strings.Join(gaps, "\n  "))
	if got := instances(); got <= before {
		t.Errorf("%d instances after the launch, %d before", got, before)
	}
}
