package lambda

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/state"
)

// The storm's sizes.
const (
	stormUnplaceable = 2000 // pods no worker fits
	stormBurst       = 300  // placeable pods, pending at once
	stormForeign     = 200  // spot warnings for other workloads' instances
	stormTicks       = 3    // scheduled ticks during and after the storm
)

// stormFirstTick are the messages of the storm's first tick, one of each
// kind (the test's Prometheus has no data: safety mode; the unplaceable
// pods in one message; the burst's launch), nothing for the foreign
// warnings. The later ticks send none of these again while the condition
// is the same (REALERT_INTERVAL), and launch nothing.
var stormFirstTick = map[autoscaler.EventKind]int{
	autoscaler.EventSafetyMode: 1, autoscaler.EventUnplaceable: 1, autoscaler.EventScaleUp: 1,
}

// recordingNotifier records the events sent.
type recordingNotifier struct {
	mu     sync.Mutex
	events []autoscaler.Event
}

func (n *recordingNotifier) Notify(_ context.Context, ev autoscaler.Event) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, ev)
	return nil
}

// take returns the events sent since the last take.
func (n *recordingNotifier) take() []autoscaler.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	evs := n.events
	n.events = nil
	return evs
}

// checkStormMessages checks the messages of each tick of the storm: the
// first tick's are stormFirstTick, one of each kind, and no failure; a
// later tick sends no kind again with the same message as the last sent
// of that kind (a repeated condition waits for REALERT_INTERVAL), and no
// scale-up. A kind a later tick sends with another message (a pod of
// another test on the shared API server joined the unplaceable ones) is
// a changed condition and allowed, with a log line.
func checkStormMessages(t *testing.T, perTick [][]autoscaler.Event) {
	t.Helper()
	last := map[autoscaler.EventKind]string{}
	for i, evs := range perTick {
		kinds := map[autoscaler.EventKind]int{}
		for _, ev := range evs {
			kinds[ev.Kind]++
			t.Logf("tick %d: %s: %.120s", i+1, ev.Kind, ev.Message)
			switch {
			case ev.Kind == autoscaler.EventFailure:
				t.Errorf("tick %d: failure alert: %s %s", i+1, ev.Message, ev.Error)
			case i > 0 && last[ev.Kind] == ev.Message+"\x00"+ev.Error:
				t.Errorf("tick %d re-sent %s with the same message as its last: %s", i+1, ev.Kind, ev.Message)
			case i > 0 && ev.Kind == autoscaler.EventScaleUp:
				t.Errorf("tick %d scaled up again: %s", i+1, ev.Message)
			case i > 0:
				t.Logf("tick %d: %s sent again with a changed message (a changed condition)", i+1, ev.Kind)
			}
			last[ev.Kind] = ev.Message + "\x00" + ev.Error
		}
		if i == 0 {
			if diff := cmp.Diff(stormFirstTick, kinds); diff != "" {
				t.Errorf("the first tick's messages by kind (-want +got):\n%s", diff)
			}
		}
	}
}

// itemSize is the cluster's DynamoDB item's size as DynamoDB counts it:
// every attribute's name and value.
func itemSize(t *testing.T, c *dynamodb.Client, table, cluster string) int {
	t.Helper()
	out, err := c.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{state.KeyAttribute: &ddbtypes.AttributeValueMemberS{Value: cluster}}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k, v := range out.Item {
		n += len(k)
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			n += len(v.Value)
		case *ddbtypes.AttributeValueMemberN:
			n += len(v.Value)
		default:
			n++
		}
	}
	return n
}

// stormPods creates n pods in ns requesting cpu and memory, and marks each
// unschedulable as kube-scheduler would, 64 at a time.
func stormPods(t *testing.T, c kubernetes.Interface, ns, prefix string, n int, cpu, mem string) {
	t.Helper()
	sem := make(chan struct{}, 64)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pods := c.CoreV1().Pods(ns)
			pod, err := pods.Create(t.Context(), &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%04d", prefix, i)},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}},
			}, metav1.CreateOptions{})
			if err != nil {
				errs <- err
				return
			}
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
				Message: "0/1 nodes are available", LastTransitionTime: metav1.Now()}}
			if _, err := pods.UpdateStatus(t.Context(), pod, metav1.UpdateOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A storm on moto and the API server, wired as the Lambda function is
// (config.Build, the Handler with its fleet check): 2,000 pods no worker
// fits, a burst of 300 placeable ones, and 200 spot warnings for other
// workloads' instances arriving while the scheduled ticks run. Every
// tick runs and succeeds, the fleet grows to what the placeable pods
// need and no further, the foreign warnings take no lock, the first tick
// sends one message of each kind of stormFirstTick and the later ticks
// none again (checkStormMessages), and the item stays under DynamoDB's
// limit.
func TestMotoStormOfPodsWarningsAndAlerts(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	kube := kubetest.Connect(t)
	ctx := t.Context()
	awsCfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	cluster := kubetest.Name("storm")
	ec2c := ec2.NewFromConfig(awsCfg)
	imgs, err := ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("describe images: %v", err)
	}
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.47.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	var subnets []string
	for i, z := range []string{"us-east-1a", "us-east-1b"} {
		s, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String(z), CidrBlock: aws.String(fmt.Sprintf("10.47.%d.0/24", i+1))})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, aws.ToString(s.Subnet.SubnetId))
	}
	template := "workers-" + cluster
	if _, err := ec2c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(template),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: imgs.Images[0].ImageId, InstanceType: types.InstanceTypeT3Medium}}); err != nil {
		t.Fatal(err)
	}
	table := cluster + "-state"
	ddb := dynamodb.NewFromConfig(awsCfg)
	if err := state.CreateTable(ctx, ddb, table, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	foreign := runInstances(t, ec2c, aws.ToString(imgs.Images[0].ImageId), stormForeign, map[string]string{"team": "batch-" + cluster})

	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	}))
	t.Cleanup(prom.Close)
	env := map[string]string{
		"CLUSTER_ID": cluster, "PROMETHEUS_URL": prom.URL, "DYNAMODB_TABLE": table, "KUBECONFIG_SECRET": "unused",
		"LAUNCH_TEMPLATE_NAME": template, "SUBNET_IDS": strings.Join(subnets, ","),
		"PENDING_PODS_SOURCE": "api", "PENDING_NODES": "needed", "PENDING_PODS_THRESHOLD": "0",
		"INSTANCE_TYPE": "t3.medium", "WORKER_VCPU": "2", "WORKER_MEMORY_MIB": "4096",
		"MIN_NODES": "0", "MAX_NODES": "40", "SCALE_UP_COOLDOWN": "0s",
		// The workers of this test only: no node of the shared API
		// server is one.
		"NODE_SELECTOR": "kubetest.node-fleet.io/run=" + cluster,
	}
	cfg, err := config.Load(config.Lambda, func(k string) string { return env[k] }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	kcfg := rest.CopyConfig(kube.Config)
	notifier := &recordingNotifier{}
	p, err := config.Build(ctx, cfg, config.Options{AWS: awsCfg, Kube: kcfg, Owner: "storm",
		Customize: func(c *autoscaler.Config) { c.Notifier = notifier }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Prometheus.Close)
	h := &Handler{Ticker: p.Autoscaler, Fleet: p.Fleet}

	// The pods, from a client without the tests' rate limit.
	fast := rest.CopyConfig(kube.Config)
	fast.QPS, fast.Burst = 2000, 4000
	kc, err := kubernetes.NewForConfig(fast)
	if err != nil {
		t.Fatal(err)
	}
	ns := kube.Namespace(t, "storm")
	start := time.Now()
	stormPods(t, kc, ns, "gpu-job", stormUnplaceable, "64", "1Gi")
	stormPods(t, kc, ns, "web", stormBurst, "100m", "128Mi")
	t.Logf("%d pods created and marked unschedulable in %s", stormUnplaceable+stormBurst, time.Since(start).Round(time.Millisecond))

	// The foreign warnings arrive while the first tick runs.
	start = time.Now()
	var wg sync.WaitGroup
	warnErrs := make(chan error, len(foreign))
	for _, id := range foreign {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.Handle(ctx, payload(t, "spot-interruption.json", id))
			switch {
			case err != nil:
				warnErrs <- fmt.Errorf("%s: %w", id, err)
			case resp.Interruption == nil || resp.Interruption.Ignored == "":
				warnErrs <- fmt.Errorf("%s: not ignored: %+v", id, resp)
			}
		}()
	}
	instances := func() int {
		t.Helper()
		res, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
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
	var counts []int
	var need int
	var perTick [][]autoscaler.Event // the messages each tick sent
	for i := range stormTicks {
		resp, err := h.Handle(ctx, payload(t, "scheduled-event.json", ""))
		if err != nil || resp.Outcome == autoscaler.OutcomeFailed || resp.Outcome == autoscaler.OutcomeSkipped {
			t.Fatalf("tick %d: %+v, %v", i+1, resp, err)
		}
		perTick = append(perTick, notifier.take())
		if i == 0 {
			wg.Wait()
			close(warnErrs)
		}
		counts = append(counts, instances())
		if i == 0 {
			// The view's need, from the tick's own snapshot: the burst and
			// any placeable pod other tests left pending.
			res, err := p.Config.Metrics.Collect(ctx)
			if err != nil || res.Scheduler == nil {
				t.Fatalf("no scheduler's view: %v", err)
			}
			need = res.Scheduler.NodesNeeded + counts[0]
			if u := len(res.Scheduler.Unplaceable()); u < stormUnplaceable {
				t.Errorf("the view counts %d unplaceable pods, want at least %d", u, stormUnplaceable)
			}
		}
	}
	for err := range warnErrs {
		t.Error(err)
	}
	t.Logf("%d ticks and %d foreign warnings in %s; fleet after each tick %v", stormTicks, len(foreign), time.Since(start).Round(time.Millisecond), counts)

	// 300 pods of 100m on workers of 2 vCPU less K3s's reservation: at
	// least 16 workers by CPU alone.
	if min := (stormBurst*100 + 1899) / 1900; counts[0] < min {
		t.Errorf("%d instances after the first tick, want at least %d for the burst", counts[0], min)
	}
	if counts[0] > 40 || counts[len(counts)-1] != counts[0] {
		t.Errorf("fleet after each tick %v: want what the burst needs at once (the view still needs %d more), and no more after", counts, need-counts[0])
	}
	checkStormMessages(t, perTick)
	size := itemSize(t, ddb, table, cluster)
	t.Logf("DynamoDB item: %d bytes", size)
	if size >= state.ItemLimit {
		t.Errorf("item of %d bytes, want under %d", size, state.ItemLimit)
	}
}
