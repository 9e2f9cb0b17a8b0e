package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
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
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/promtest"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/state"
)

// decodeDocs decodes the Kubernetes objects of a multi-document YAML text.
// Objects of kinds client-go does not know (K3s's HelmChart) are left out.
func decodeDocs(t *testing.T, what, text string) []runtime.Object {
	t.Helper()
	var out []runtime.Object
	for _, doc := range strings.Split(text, "\n---\n") {
		if !strings.Contains(doc, "\nkind: ") && !strings.HasPrefix(doc, "kind: ") {
			continue // comments only
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if runtime.IsNotRegisteredError(err) {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, doc)
		}
		out = append(out, obj)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// serverInitObjects are the objects deploy/server-init.sh installs on the
// K3s server (its manifest heredoc).
func serverInitObjects(t *testing.T) []runtime.Object {
	t.Helper()
	s := readFile(t, "../../deploy/server-init.sh")
	const start = "cat >\"$MANIFESTS/node-fleet.yaml\" <<'EOF'\n"
	i := strings.Index(s, start)
	if i < 0 {
		t.Fatal("deploy/server-init.sh no longer writes $MANIFESTS/node-fleet.yaml")
	}
	body := s[i+len(start):]
	body = body[:strings.Index(body, "\nEOF\n")]
	return decodeDocs(t, "deploy/server-init.sh", body)
}

// The daemon's identity and rights are exactly the Lambda function's: the
// Namespace, ServiceAccount, ClusterRole and ClusterRoleBinding of
// deploy/daemon/rbac.yaml are those of deploy/server-init.sh.
func TestDaemonRBACIsTheLambdas(t *testing.T) {
	want := map[string]runtime.Object{}
	for _, o := range serverInitObjects(t) {
		switch o.(type) {
		case *corev1.Namespace, *corev1.ServiceAccount, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding:
			want[fmt.Sprintf("%T", o)] = o
		}
	}
	got := map[string]runtime.Object{}
	for _, o := range decodeDocs(t, "deploy/daemon/rbac.yaml", readFile(t, "../../deploy/daemon/rbac.yaml")) {
		got[fmt.Sprintf("%T", o)] = o
	}
	if len(want) != 4 {
		t.Fatalf("deploy/server-init.sh has %d of the 4 RBAC objects", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deploy/daemon/rbac.yaml differs from deploy/server-init.sh (-server-init +daemon):\n%s", diff)
	}
	// The Deployment runs as that ServiceAccount.
	for _, o := range decodeDocs(t, "deploy/daemon/daemon.yaml", readFile(t, "../../deploy/daemon/daemon.yaml")) {
		if d, ok := o.(*appsv1.Deployment); ok {
			sa := got["*v1.ServiceAccount"].(*corev1.ServiceAccount)
			if d.Spec.Template.Spec.ServiceAccountName != sa.Name || d.Namespace != sa.Namespace || *d.Spec.Replicas != 2 {
				t.Errorf("the Deployment runs as %s/%s with %d replicas, want %s/%s and 2", d.Namespace, d.Spec.Template.Spec.ServiceAccountName, *d.Spec.Replicas, sa.Namespace, sa.Name)
			}
		}
	}
}

// applied are the manifests as applied by the test: renamed so that runs
// sharing the API server do not meet.
type applied struct {
	ns, role, sa string
	deployment   *appsv1.Deployment
	configMap    *corev1.ConfigMap
	rules        []rbacv1.PolicyRule
}

// applyManifests creates deploy/daemon's objects on the API server, in a
// namespace and under cluster-wide names of the test's own, and deletes
// them when the test ends.
func applyManifests(t *testing.T, kube *kubetest.Cluster) applied {
	t.Helper()
	objs := decodeDocs(t, "deploy/daemon/rbac.yaml", readFile(t, "../../deploy/daemon/rbac.yaml"))
	objs = append(objs, decodeDocs(t, "deploy/daemon/daemon.yaml", readFile(t, "../../deploy/daemon/daemon.yaml"))...)
	return applyObjects(t, kube, objs)
}

// applyObjects creates objs on the API server as applyManifests does; a
// namespace is created for them when objs have none (a chart's rendered
// manifests: Helm creates the release's namespace itself).
func applyObjects(t *testing.T, kube *kubetest.Cluster, objs []runtime.Object) applied {
	t.Helper()
	ctx := t.Context()
	if !slices.ContainsFunc(objs, func(o runtime.Object) bool { _, ok := o.(*corev1.Namespace); return ok }) {
		objs = append([]runtime.Object{&corev1.Namespace{}}, objs...)
	}
	a := applied{ns: kubetest.Name("node-fleet"), role: kubetest.Name("node-fleet-autoscaler")}
	c := kube.Client
	cleanup := func(f func(context.Context) error) {
		t.Cleanup(func() { _ = f(context.Background()) })
	}
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Namespace:
			o.Name = a.ns
			_, err = c.CoreV1().Namespaces().Create(ctx, o, metav1.CreateOptions{})
			cleanup(func(ctx context.Context) error {
				return c.CoreV1().Namespaces().Delete(ctx, a.ns, metav1.DeleteOptions{})
			})
		case *corev1.ServiceAccount:
			a.sa = o.Name
			o.Namespace = a.ns
			_, err = c.CoreV1().ServiceAccounts(a.ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			o.Name, a.rules = a.role, o.Rules
			_, err = c.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
			cleanup(func(ctx context.Context) error {
				return c.RbacV1().ClusterRoles().Delete(ctx, a.role, metav1.DeleteOptions{})
			})
		case *rbacv1.ClusterRoleBinding:
			o.Name, o.RoleRef.Name = a.role, a.role
			for i := range o.Subjects {
				o.Subjects[i].Namespace = a.ns
			}
			_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
			cleanup(func(ctx context.Context) error {
				return c.RbacV1().ClusterRoleBindings().Delete(ctx, a.role, metav1.DeleteOptions{})
			})
		case *corev1.ConfigMap:
			o.Namespace, a.configMap = a.ns, o
			_, err = c.CoreV1().ConfigMaps(a.ns).Create(ctx, o, metav1.CreateOptions{})
		case *appsv1.Deployment:
			o.Namespace, a.deployment = a.ns, o
			_, err = c.AppsV1().Deployments(a.ns).Create(ctx, o, metav1.CreateOptions{})
		case *policyv1.PodDisruptionBudget:
			o.Namespace = a.ns
			_, err = c.PolicyV1().PodDisruptionBudgets(a.ns).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Service:
			o.Namespace = a.ns
			_, err = c.CoreV1().Services(a.ns).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("deploy/daemon has a %T the test does not apply", o)
		}
		if err != nil {
			t.Fatalf("apply %T: %v", o, err)
		}
	}
	return a
}

// saKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount with a token from the TokenRequest API, as the pod's
// projected token does.
func saKubeconfig(t *testing.T, kube *kubetest.Cluster, ns, sa string) (string, kubernetes.Interface) {
	t.Helper()
	tok, err := kube.Client.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), sa,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tls := kube.Config.TLSClientConfig
	cluster := &clientcmdapi.Cluster{Server: kube.Config.Host, CertificateAuthority: tls.CAFile, CertificateAuthorityData: tls.CAData, InsecureSkipTLSVerify: tls.Insecure}
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"test": cluster},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{sa: {Token: tok.Status.Token}},
		Contexts:       map[string]*clientcmdapi.Context{"sa": {Cluster: "test", AuthInfo: sa}},
		CurrentContext: "sa",
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(cfg, path); err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return path, cs
}

func ptr[T any](v T) *T { return &v }

// checkAccess asks the API server's authorizer, for the ServiceAccount,
// about every verb the ClusterRole grants (allowed) and verbs it does not
// (refused), and makes one refused call with the token itself.
func checkAccess(t *testing.T, kube *kubetest.Cluster, sa kubernetes.Interface, a applied) {
	t.Helper()
	user := "system:serviceaccount:" + a.ns + ":" + a.sa
	ask := func(group, resource, sub, verb string) bool {
		t.Helper()
		res, sub2 := resource, ""
		if i := strings.Index(resource, "/"); i >= 0 {
			res, sub2 = resource[:i], resource[i+1:]
		}
		if sub != "" {
			sub2 = sub
		}
		r, err := kube.Client.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + a.ns, "system:authenticated"},
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: "default", Group: group, Resource: res, Subresource: sub2, Verb: verb},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status.Allowed
	}
	granted := 0
	for _, r := range a.rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					granted++
					if !ask(g, res, "", v) {
						t.Errorf("the ClusterRole grants %s %s/%s but the API server refuses it", v, g, res)
					}
				}
			}
		}
	}
	for _, c := range []struct{ group, resource, verb string }{
		{"", "secrets", "list"}, {"", "secrets", "get"}, {"", "pods", "delete"}, {"", "pods", "create"},
		{"", "nodes", "create"}, {"", "nodes", "update"}, {"", "configmaps", "get"}, {"apps", "deployments", "update"},
		{"apps", "daemonsets", "delete"}, {"policy", "poddisruptionbudgets", "delete"}, {"", "persistentvolumes", "delete"},
		{"rbac.authorization.k8s.io", "clusterroles", "create"}, {"", "serviceaccounts", "create"}, {"", "pods/exec", "create"},
	} {
		if ask(c.group, c.resource, "", c.verb) {
			t.Errorf("the ServiceAccount may %s %s/%s, which the role does not grant", c.verb, c.group, c.resource)
		}
	}
	t.Logf("%d granted verbs allowed, 14 others refused by the authorizer", granted)
	// With the token itself: a forbidden verb is refused, an allowed one is not.
	if _, err := sa.CoreV1().Secrets(a.ns).List(t.Context(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing secrets with the ServiceAccount's token: %v, want Forbidden", err)
	}
	if err := sa.CoreV1().Pods(a.ns).Delete(t.Context(), "anything", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("deleting a pod with the ServiceAccount's token: %v, want Forbidden", err)
	}
	if _, err := sa.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{Limit: 1}); err != nil {
		t.Errorf("listing nodes with the ServiceAccount's token: %v", err)
	}
}

// promQuery runs an instant query and returns its samples' values.
func promQuery(ctx context.Context, base, expr string) ([]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status, Error string
		Data          struct {
			ResultType string
			Result     []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s", body.Error)
	}
	var out []float64
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// dashboardQueries returns each panel's title and queries from the
// Grafana dashboard, with its variables set as Grafana would for job.
func dashboardQueries(t *testing.T, job string) map[string][]string {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, "../../deploy/monitoring/grafana-node-fleet.json")), &d); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			e := strings.NewReplacer(`$job`, job, `$__rate_interval`, "1m").Replace(tg.Expr)
			out[p.Title] = append(out[p.Title], e)
		}
	}
	if len(out) < 10 {
		t.Fatalf("the dashboard has %d panels", len(out))
	}
	return out
}

// TestIntegrationDaemonInCluster applies deploy/daemon's manifests to the
// real API server, then runs two daemons (the Deployment's two replicas)
// as processes with the ServiceAccount's token against moto and a real
// Prometheus: the role suffices (ticks run, none fails, the floor's launch
// reaches EC2, nothing is forbidden), nothing more is granted, the
// replicas share the lock (no two ticks under one lease), and a real
// Prometheus scraping both daemons answers every query of the Grafana
// dashboard with data.
func TestIntegrationDaemonInCluster(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	kube := kubetest.Connect(t)
	promBin, nodeBin := promtest.PrometheusBin(t), promtest.NodeExporterBin(t)
	ctx := t.Context()

	// The manifests, applied.
	a := applyManifests(t, kube)
	kubetest.Eventually(t, 60*time.Second, "the Deployment's 2 pods", func() (bool, error) {
		pods, err := kube.Client.CoreV1().Pods(a.ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=node-fleet-daemon"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Spec.ServiceAccountName != a.sa {
				return false, fmt.Errorf("pod %s runs as %s", p.Name, p.Spec.ServiceAccountName)
			}
		}
		return len(pods.Items) == 2, nil
	})
	pdb, err := kube.Client.PolicyV1().PodDisruptionBudgets(a.ns).Get(ctx, "node-fleet-daemon", metav1.GetOptions{})
	if err != nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget: %v, %+v", err, pdb)
	}
	kubeconfig, saClient := saKubeconfig(t, kube, a.ns, a.sa)
	checkAccess(t, kube, saClient, a)

	// moto: the table, a launch template and a subnet.
	awsCfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	cluster := kubetest.Name("incluster")
	table := cluster + "-state"
	ddb := dynamodb.NewFromConfig(awsCfg)
	if err := state.CreateTable(ctx, ddb, table, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	store, err := state.NewDynamo(state.DynamoConfig{Client: ddb, Table: table, ClusterID: cluster})
	if err != nil {
		t.Fatal(err)
	}
	ec2c := ec2.NewFromConfig(awsCfg)
	imgs, err := ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("describe images: %v", err)
	}
	lt, err := ec2c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(cluster),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: imgs.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Medium}})
	if err != nil {
		t.Fatal(err)
	}
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.40.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	subnet, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String("us-east-1a"), CidrBlock: aws.String("10.40.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}

	// Prometheus scrapes node_exporter (the daemons' CPU and memory) and
	// both daemons, as one job.
	node := promtest.StartNodeExporter(t, nodeBin)
	addrs := []string{fmt.Sprintf("127.0.0.1:%d", promtest.FreePort(t)), fmt.Sprintf("127.0.0.1:%d", promtest.FreePort(t))}
	const job = "node-fleet"
	prom := promtest.StartPrometheus(t, promBin, promtest.PrometheusOptions{Targets: []promtest.Target{
		{Job: "node", Addr: node.Addr},
		{Job: "daemon-a", Addr: addrs[0], Labels: map[string]string{"job": job}},
		{Job: "daemon-b", Addr: addrs[1], Labels: map[string]string{"job": job}},
	}})

	// A pod no node can take: pending pods for the policy (the floor
	// launches anyway: MIN_NODES=1).
	ns := kube.Namespace(t, "incluster-pods")
	if _, err := kube.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "waiting"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kube.MarkUnschedulable(t, ns, "waiting", "0/0 nodes are available")

	bin := filepath.Join(t.TempDir(), "daemon")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	outs := make([]*syncBuffer, 2)
	for i, addr := range addrs {
		if i > 0 {
			// Pods of a Deployment do not start in the same millisecond;
			// replicas started together tick in phase, and the one that
			// loses the lock then loses it at every tick.
			time.Sleep(2500 * time.Millisecond)
		}
		// The Deployment's configuration, pointed at the test's servers.
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		for k, v := range a.configMap.Data {
			env = append(env, k+"="+v)
		}
		env = append(env, "CLUSTER_ID="+cluster, "PROMETHEUS_URL="+prom.URL, "DYNAMODB_TABLE="+table,
			"LAUNCH_TEMPLATE_ID="+aws.ToString(lt.LaunchTemplate.LaunchTemplateId), "SUBNET_IDS="+aws.ToString(subnet.Subnet.SubnetId),
			"MIN_NODES=1", "MAX_NODES=1", "TICK_INTERVAL=5s", "LISTEN_ADDR="+addr, "PENDING_PODS_SOURCE=api", "LOG_LEVEL=debug",
			"KUBECONFIG="+kubeconfig,
			"AWS_ENDPOINT_URL="+endpoint, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
		cmd := exec.Command(bin)
		cmd.Env = env
		outs[i] = &syncBuffer{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
			}
			if t.Failed() {
				t.Logf("daemon %d output:\n%s", i, outs[i])
			}
		})
	}

	// Both up and ticking, under the shared lock: every tick that ran had
	// a lease of its own (distinct fencing tokens across both replicas),
	// and none failed.
	bodies := make([]string, 2)
	tokenRE := regexp.MustCompile(`"msg":"tick".*?"token":(\d+)`)
	tokens := func() (map[string]int, bool) {
		seen, dup := map[string]int{}, false
		for i := range outs {
			for _, m := range tokenRE.FindAllStringSubmatch(outs[i].String(), -1) {
				if _, ok := seen[m[1]]; ok {
					dup = true
				}
				seen[m[1]] = i
			}
		}
		return seen, dup
	}
	perReplica := make([]int, 2)
	promtest.WaitFor(t, 90*time.Second, "2 ticks run by each replica", func(ctx context.Context) bool {
		each := 0
		for i, addr := range addrs {
			_, bodies[i] = get(ctx, "http://"+addr+"/metrics")
			perReplica[i] = max(0, ticks(bodies[i], autoscaler.OutcomeHeld)) + max(0, ticks(bodies[i], autoscaler.OutcomeScaledUp))
			if perReplica[i] >= 2 {
				each++
			}
		}
		return each == 2
	})
	seen, dup := tokens()
	if dup {
		t.Errorf("two ticks ran under the same fencing token: %v", seen)
	}
	for i, b := range bodies {
		if n := ticks(b, autoscaler.OutcomeFailed); n != 0 {
			t.Errorf("daemon %d: %d failed ticks", i, n)
		}
		if strings.Contains(strings.ToLower(outs[i].String()), "forbidden") {
			t.Errorf("daemon %d was refused something:\n%s", i, outs[i])
		}
	}
	t.Logf("%d ticks ran, each under its own lease (by replica: %v)", len(seen), perReplica)
	fleet, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("tag:node-fleet.io/cluster"), Values: []string{cluster}}}})
	if err != nil || len(fleet.Reservations) == 0 {
		t.Errorf("the floor's launch did not reach EC2: %v, %d reservations", err, len(fleet.Reservations))
	}
	st, err := store.Load(ctx)
	if err != nil || len(st.History) < 2 {
		t.Errorf("state after the ticks: %v, %d records", err, len(st.History))
	}

	// Every panel of the Grafana dashboard has data.
	queries := dashboardQueries(t, job)
	empty := map[string]string{}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		clear(empty)
		for title, exprs := range queries {
			for _, e := range exprs {
				vals, err := promQuery(ctx, prom.URL, e)
				switch {
				case err != nil:
					empty[title] = fmt.Sprintf("%s: %v", e, err)
				case len(vals) == 0:
					empty[title] = e + ": no data"
				case math.IsNaN(vals[0]) || math.IsInf(vals[0], 0):
					empty[title] = fmt.Sprintf("%s: %v", e, vals[0])
				}
			}
		}
		if len(empty) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for title, why := range empty {
		t.Errorf("panel %q: %s", title, why)
	}
	t.Logf("%d panels, each with data", len(queries))

	// The alerting rules' expressions run on the real daemons' series;
	// the fleet is at MaxNodes (1 of 1) with a pod pending, so those two
	// rules' conditions hold now (their "for" is not waited out here).
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "../../deploy/monitoring/node-fleet.rules.yml")), &rules); err != nil {
		t.Fatal(err)
	}
	holding := map[string]bool{"NodeFleetAtMaxNodes": true, "NodeFleetPodsUnschedulable": true}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			vals, err := promQuery(ctx, prom.URL, r.Expr)
			if err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
			}
			if holding[r.Alert] && len(vals) == 0 {
				t.Errorf("alert %s: its condition does not hold on the daemons' series, though the fleet is at MaxNodes with a pod pending", r.Alert)
			}
			delete(holding, r.Alert)
		}
	}
	if len(holding) > 0 || n < 6 {
		t.Errorf("the rules lack %v (%d rules)", holding, n)
	}
}
