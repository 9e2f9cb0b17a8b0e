package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	authv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/provision"
)

// check is one line of doctor's checklist.
type check struct {
	name string
	// ok is false for a failure; skipped checks are ok with a detail
	// saying why.
	ok     bool
	detail string
	// fix says what to do about a failure.
	fix string
}

// errChecksFailed is doctor's error when a check failed (exit status 1).
var errChecksFailed = errors.New("some checks failed")

func doctorFlags(fs *flag.FlagSet) func(context.Context, *app) error {
	serverURL := fs.String("server-url", "", "the K3s server URL the workers' user data must name (default: the user data's own, if any, is only shown)")
	account := fs.String("service-account", defaultServiceAccount(), "the autoscaler's ServiceAccount (NAMESPACE/NAME) whose permissions are checked too, when the credentials may ask the API server about others' (an admin's may)")
	return func(ctx context.Context, a *app) error {
		s, err := a.loadSite(ctx)
		if err != nil {
			return err
		}
		ns, name, ok := strings.Cut(*account, "/")
		if !ok || ns == "" || name == "" {
			return fmt.Errorf("-service-account %q: want NAMESPACE/NAME: %w", *account, errUsage)
		}
		s.serviceAccount = *account
		checks := s.doctor(ctx, *serverURL)
		failed := 0
		for _, c := range checks {
			mark := "ok  "
			if !c.ok {
				mark, failed = "FAIL", failed+1
			}
			fmt.Fprintf(s.stdout, "[%s] %s: %s\n", mark, c.name, c.detail)
			if !c.ok && c.fix != "" {
				fmt.Fprintf(s.stdout, "       fix: %s\n", c.fix)
			}
		}
		if failed > 0 {
			return fmt.Errorf("%d of %d checks failed: %w", failed, len(checks), errChecksFailed)
		}
		fmt.Fprintf(s.stdout, "all %d checks passed\n", len(checks))
		return nil
	}
}

// doctor runs every check.
func (s *site) doctor(ctx context.Context, serverURL string) []check {
	var out []check
	out = append(out, s.checkTable(ctx))
	out = append(out, s.checkLaunchTemplate(ctx, serverURL)...)
	out = append(out, s.checkSubnets(ctx))
	out = append(out, s.checkTopic(ctx))
	parts, err := config.Build(ctx, s.cfg, config.Options{AWS: s.aws})
	if err != nil {
		return append(out, check{name: "connections", detail: err.Error(),
			fix: "set KUBECONFIG (a file) or KUBECONFIG_SECRET (a Secrets Manager secret holding a kubeconfig), and PROMETHEUS_URL"})
	}
	defer parts.Prometheus.Close()
	out = append(out, s.checkPrometheus(ctx, parts)...)
	return append(out, s.checkKube(ctx, parts)...)
}

func (s *site) checkTable(ctx context.Context) check {
	c := check{name: "table " + s.cfg.DynamoDBTable}
	out, err := dynamodb.NewFromConfig(s.aws).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.cfg.DynamoDBTable)})
	if err != nil {
		c.detail, c.fix = awsProblem(err), "nodefleet setup creates it (DYNAMODB_TABLE names it; AWS_REGION its region)"
		return c
	}
	if p := tableProblem(out.Table); p != "" {
		c.detail, c.fix = p, "give DYNAMODB_TABLE a new name and run nodefleet setup, which creates it with the right key"
		return c
	}
	if p, fix := tableStatusProblem(out.Table.TableStatus); p != "" {
		c.detail, c.fix = p, fix
		return c
	}
	c.ok, c.detail = true, fmt.Sprintf("exists, key %s, %s", aws.ToString(out.Table.KeySchema[0].AttributeName), out.Table.TableStatus)
	return c
}

// tableStatusProblem says what is wrong with a table in status, and the
// fix; "" for a table the autoscaler can use (active, or being updated).
func tableStatusProblem(status ddbtypes.TableStatus) (problem, fix string) {
	switch status {
	case ddbtypes.TableStatusActive, ddbtypes.TableStatusUpdating:
		return "", ""
	case ddbtypes.TableStatusDeleting:
		return "is being deleted", "wait until it is gone and run nodefleet setup to create it again, or give DYNAMODB_TABLE another name"
	case ddbtypes.TableStatusCreating:
		return "is still being created", "wait a minute and run nodefleet doctor again"
	}
	return fmt.Sprintf("is %s, not ACTIVE", status), "see the table in the DynamoDB console (an archived or inaccessible table cannot keep the state)"
}

// awsProblem is err without the SDK's request details, credentials hint
// added.
func awsProblem(err error) string {
	return awsutil.AddCredentialsHint(err).Error()
}

func (s *site) checkLaunchTemplate(ctx context.Context, serverURL string) []check {
	c := check{name: "launch template (" + s.templateName() + ")"}
	lt, err := s.launchTemplate(ctx)
	if err != nil {
		c.detail, c.fix = awsProblem(err), "create it with the user data nodefleet setup writes (user-data.sh), or correct LAUNCH_TEMPLATE_ID/LAUNCH_TEMPLATE_NAME"
		return []check{c}
	}
	d := lt.LaunchTemplateData
	var raw []byte
	if d != nil && d.UserData != nil {
		raw, err = base64.StdEncoding.DecodeString(aws.ToString(d.UserData))
	}
	ud := string(raw)
	vars := provision.UserDataVars(ud)
	fix := "put the user data nodefleet setup writes (user-data.sh) into a new version of the template and make it LAUNCH_TEMPLATE_VERSION (default $Default)"
	switch {
	case err != nil || ud == "":
		c.detail, c.fix = "has no user data: its instances would never join the cluster", fix
	case !strings.Contains(ud, "node-fleet worker join script") && !strings.Contains(ud, "node-fleet join"):
		c.detail, c.fix = "its user data is not node-fleet's join script: instances would join without the labels the autoscaler matches them by", fix
	case vars[provision.VarClusterID] != s.cfg.ClusterID:
		c.detail, c.fix = fmt.Sprintf("its user data joins cluster %q, not %q (%s)", vars[provision.VarClusterID], s.cfg.ClusterID, provision.VarClusterID), fix
	case serverURL != "" && vars[provision.VarServerURL] != serverURL:
		c.detail, c.fix = fmt.Sprintf("its user data joins the server %q, not %s (%s)", vars[provision.VarServerURL], serverURL, provision.VarServerURL), fix+" (nodefleet setup -server-url)"
	default:
		server := vars[provision.VarServerURL]
		if server == "" {
			server = "the instance tagged node-fleet.io/role=k3s-server"
		}
		c.ok, c.detail = true, fmt.Sprintf("version %d joins cluster %s at %s", aws.ToInt64(lt.VersionNumber), s.cfg.ClusterID, server)
	}
	out := []check{c}
	if c.ok {
		out = append(out, s.checkJoin(ctx, vars))
	}
	return out
}

// checkJoin checks what the join script needs besides the template: the
// token's secret, and the server tag when the user data names no server.
func (s *site) checkJoin(ctx context.Context, vars map[string]string) check {
	secret := vars[provision.VarTokenSecret]
	c := check{name: "join token secret " + secret}
	if _, err := secretsmanager.NewFromConfig(s.aws).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret)}); err != nil {
		c.detail = awsProblem(err)
		c.fix = "store the server's token (sudo cat /var/lib/rancher/k3s/server/node-token) in it: aws secretsmanager create-secret --name " + secret + " --secret-string ..."
		return c
	}
	c.ok, c.detail = true, "exists"
	if vars[provision.VarServerURL] != "" {
		return c
	}
	out, err := ec2.NewFromConfig(s.aws).DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:node-fleet.io/role"), Values: []string{"k3s-server"}},
		{Name: aws.String("tag:" + autoscaler.LabelCluster), Values: []string{s.cfg.ClusterID}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
	}})
	if err != nil {
		// Not "no such instance": the question could not be asked.
		c.ok, c.name = false, "K3s server instance"
		c.detail = "could not look for it: " + awsProblem(err)
		c.fix = "allow ec2:DescribeInstances to these credentials, or run nodefleet setup -server-url https://SERVER:6443 and put its user data into the template"
		return c
	}
	if len(out.Reservations) == 0 {
		c.ok, c.name = false, "K3s server instance"
		c.detail = "no running instance tagged node-fleet.io/role=k3s-server and node-fleet.io/cluster=" + s.cfg.ClusterID + ", and the user data names no server"
		c.fix = "tag the server instance so, or run nodefleet setup -server-url https://SERVER:6443 and put its user data into the template"
	}
	return c
}

func (s *site) checkSubnets(ctx context.Context) check {
	c := check{name: "subnets " + strings.Join(s.cfg.Subnets, ",")}
	out, err := ec2.NewFromConfig(s.aws).DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: s.cfg.Subnets})
	if err != nil {
		c.detail, c.fix = awsProblem(err), "correct SUBNET_IDS: the workers' subnets, in the region AWS_REGION"
		return c
	}
	zones := map[string]bool{}
	for _, sn := range out.Subnets {
		zones[aws.ToString(sn.AvailabilityZone)] = true
	}
	names := slices.Sorted(maps.Keys(zones))
	if len(zones) < 2 {
		c.detail = fmt.Sprintf("all in one availability zone (%s): a zone's outage or a spot shortage there leaves no capacity", strings.Join(names, ","))
		c.fix = "add a subnet of another zone of the same VPC to SUBNET_IDS"
		return c
	}
	c.ok, c.detail = true, fmt.Sprintf("span %d zones (%s)", len(zones), strings.Join(names, ", "))
	return c
}

func (s *site) checkTopic(ctx context.Context) check {
	c := check{name: "SNS topic"}
	if s.cfg.SNSTopicARN == "" {
		c.ok, c.detail = true, "skipped: SNS_TOPIC_ARN is empty, no notifications are sent"
		return c
	}
	c.name += " " + s.cfg.SNSTopicARN
	if _, err := sns.NewFromConfig(s.aws).GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(s.cfg.SNSTopicARN)}); err != nil {
		c.detail, c.fix = awsProblem(err), "create it (aws sns create-topic) or correct SNS_TOPIC_ARN"
		return c
	}
	c.ok, c.detail = true, "exists"
	return c
}

// queryFixes say what a query's failure usually means.
var queryFixes = map[string]string{
	autoscaler.MetricCPU:         "Prometheus must scrape node_exporter on the workers (PROMETHEUS_NODE_SELECTOR narrows the series to them); or set CPU_QUERY",
	cpuNodes:                     "Prometheus must scrape node_exporter on the workers (PROMETHEUS_NODE_SELECTOR narrows the series to them)",
	autoscaler.MetricMemory:      "Prometheus must scrape node_exporter on the workers; or set MEMORY_QUERY",
	autoscaler.MetricPendingPods: "Prometheus must scrape kube-state-metrics; or set PENDING_PODS_SOURCE=api to count them through the API server",
	autoscaler.MetricAPILatency:  "Prometheus must scrape the API server's metrics (apiserver_request_duration_seconds); or disable the query",
}

func (s *site) checkPrometheus(ctx context.Context, parts *config.Parts) []check {
	snap, err := parts.Prometheus.Collect(ctx)
	if err != nil && strings.Contains(err.Error(), "query failed") {
		// No query got an answer: one failure, the server's.
		return []check{{name: "prometheus " + s.cfg.PrometheusURL, detail: err.Error(),
			fix: "PROMETHEUS_URL must be the Prometheus server's base URL, reachable from here (PROMETHEUS_BEARER_TOKEN_FILE and the other PROMETHEUS_ settings, if it wants credentials)"}}
	}
	queries := parts.Prometheus.Queries()
	var out []check
	for _, name := range slices.Sorted(maps.Keys(queries)) {
		c := check{name: "prometheus query " + name}
		m, known := snapshotMetric(snap, name)
		switch {
		case !known:
			continue
		case m.OK:
			c.ok, c.detail = true, fmt.Sprintf("answers %.4g", m.Value)
		default:
			c.detail = fmt.Sprintf("%v (PromQL: %s)", m.Err, queries[name])
			c.fix = queryFixes[name]
			if c.fix == "" {
				c.fix = "correct the query, or the scrape configuration of the series it reads"
			}
		}
		out = append(out, c)
	}
	return out
}

// snapshotMetric is the reading of the query named name.
func snapshotMetric(s autoscaler.Snapshot, name string) (autoscaler.Metric, bool) {
	switch name {
	case autoscaler.MetricCPU:
		return s.CPU, true
	case autoscaler.MetricMemory:
		return s.Memory, true
	case autoscaler.MetricPendingPods:
		return s.PendingPods, true
	case autoscaler.MetricAPILatency:
		return s.APILatency, true
	case cpuNodes:
		return s.CPUNodes, true
	}
	m, ok := s.Custom[name]
	return m, ok
}

// cpuNodes is the name of the query that counts the nodes the CPU query
// averages over (metrics.CPUNodesQuery).
const cpuNodes = "cpu_nodes"

func (s *site) checkKube(ctx context.Context, parts *config.Parts) []check {
	c := check{name: "API server " + parts.KubeConfig.Host}
	kc, err := kubernetes.NewForConfig(parts.KubeConfig)
	if err == nil {
		var v interface{ String() string }
		v, err = kc.Discovery().ServerVersion()
		if err == nil {
			c.detail = "reachable, version " + v.String()
		}
	}
	if err != nil {
		c.detail, c.fix = err.Error(), "KUBECONFIG (or KUBECONFIG_SECRET's kubeconfig) must reach the API server, port 6443 of the K3s server, with valid credentials"
		return []check{c}
	}
	c.ok = true
	out := []check{c}
	rules, err := autoscalerRules()
	if err != nil {
		return append(out, check{name: "RBAC", detail: err.Error()})
	}
	self := func(attrs authv1.ResourceAttributes) (bool, error) {
		rv, err := kc.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authv1.SelfSubjectAccessReview{
			Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}, metav1.CreateOptions{})
		return err == nil && rv.Status.Allowed, err
	}
	denied, n := deniedVerbs(rules, self)
	a := check{name: "API permissions", ok: len(denied) == 0, detail: fmt.Sprintf("all %d verbs the autoscaler uses are allowed", n)}
	if len(denied) > 0 {
		a.detail = fmt.Sprintf("%d of %d verbs denied: %s", len(denied), n, strings.Join(denied, ", "))
		a.fix = "nodefleet setup -apply (or kubectl apply -f rbac.yaml from nodefleet setup -out) and use the node-fleet/autoscaler ServiceAccount's credentials"
	}
	return append(out, a, s.checkServiceAccount(ctx, kc, rules, self))
}

// checkServiceAccount checks the permissions of the autoscaler's
// ServiceAccount (the daemon's, in the cluster) with SubjectAccessReviews,
// when the credentials may create them: with an admin's kubeconfig the
// check of their own permissions says nothing about the daemon's.
func (s *site) checkServiceAccount(ctx context.Context, kc kubernetes.Interface, rules []rbacv1.PolicyRule,
	self func(authv1.ResourceAttributes) (bool, error)) check {
	c := check{name: "service account " + s.serviceAccount + "'s permissions"}
	may, _ := self(authv1.ResourceAttributes{Group: "authorization.k8s.io", Resource: "subjectaccessreviews", Verb: "create"})
	if !may {
		c.ok, c.detail = true, "skipped: these credentials may not ask about another's permissions (create subjectaccessreviews); the line above checks their own"
		return c
	}
	ns, _, _ := strings.Cut(s.serviceAccount, "/")
	user := "system:serviceaccount:" + strings.Replace(s.serviceAccount, "/", ":", 1)
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	denied, n := deniedVerbs(rules, func(attrs authv1.ResourceAttributes) (bool, error) {
		rv, err := kc.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{
			User: user, Groups: groups, ResourceAttributes: &attrs}}, metav1.CreateOptions{})
		return err == nil && rv.Status.Allowed, err
	})
	c.ok, c.detail = len(denied) == 0, fmt.Sprintf("all %d verbs the autoscaler uses are allowed", n)
	if !c.ok {
		c.detail = fmt.Sprintf("%d of %d verbs denied: %s", len(denied), n, strings.Join(denied, ", "))
		c.fix = "kubectl apply -f rbac.yaml (from nodefleet setup -out) binds node-fleet/autoscaler; for another ServiceAccount (the chart's, in its release's namespace) bind the ClusterRole node-fleet-autoscaler to it, or give -service-account the one the daemon runs as"
	}
	return c
}

// deniedVerbs asks allowed about every verb of rules and returns those
// denied (or that could not be asked), as "verb resource.group", and how
// many were asked.
func deniedVerbs(rules []rbacv1.PolicyRule, allowed func(authv1.ResourceAttributes) (bool, error)) (denied []string, n int) {
	for _, r := range rules {
		for _, group := range r.APIGroups {
			for _, res := range r.Resources {
				for _, verb := range r.Verbs {
					n++
					resource, sub, _ := strings.Cut(res, "/")
					if ok, _ := allowed(authv1.ResourceAttributes{Group: group, Resource: resource, Subresource: sub, Verb: verb}); !ok {
						denied = append(denied, verb+" "+qualified(group, res))
					}
				}
			}
		}
	}
	return denied, n
}

// qualified is resource.group, as kubectl names it ("pods/eviction",
// "daemonsets.apps").
func qualified(group, res string) string {
	if group == "" {
		return res
	}
	return res + "." + group
}
