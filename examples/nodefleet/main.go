// Command nodefleet is the operator's command for a cluster that node-fleet
// scales: it reads and changes the same DynamoDB item, EC2 fleet and API
// server as the Lambda function and the daemon, for the questions asked at
// 3 a.m.
//
//	nodefleet status                    the lock, the operation in progress, pause, safety mode, last decisions, the fleet
//	nodefleet history [-since 6h] [-action scale_up,scale_down] [-json]
//	nodefleet pause -reason "kernel upgrade"
//	nodefleet resume
//	nodefleet unlock [-force]
//	nodefleet report [-since 24h] [-chart fleet.png] [-prices prices.csv]
//	nodefleet setup [-out dir] [-apply] [-worker-role ARN] [-server-url URL]
//	nodefleet doctor [-server-url URL] [-service-account NS/NAME]
//	nodefleet tick [-dry-run]
//
// Every subcommand takes -h. The connection settings are the programs'
// own variables (CLUSTER_ID, DYNAMODB_TABLE, AWS_REGION, KUBECONFIG,
// KUBECONFIG_SECRET, NODE_SELECTOR), each overridden by a flag of the same
// meaning; AWS credentials come from the SDK's default chain. setup,
// doctor and tick read all of the daemon's variables from the environment
// instead (no flags for them), so that they see exactly what the daemon
// would: docs/quickstart.md uses them to adopt an existing cluster.
//
// # Setup
//
// setup creates the DynamoDB table (or checks the key of the one there),
// and writes (-out) or prints the IAM policies of the Lambda function's,
// the daemon's and the workers' roles, limited to this cluster's
// resources, the autoscaler's RBAC (applied with -apply) and the workers'
// user data with this cluster's values, all from package provision, the
// Pulumi stack's source too. It can be run again at any time.
//
// # Doctor
//
// doctor checks the configuration against the real services and prints a
// checklist, each failure with its fix: the table and its key; the launch
// template, and that its user data is the join script for this cluster
// (and -server-url's server); the join token's secret, and the server's
// tag when the user data names no server; that the subnets span two
// zones; the SNS topic; each Prometheus query the autoscaler runs; the
// API server, and each verb of the autoscaler's ClusterRole through a
// SelfSubjectAccessReview with the configured credentials and, when they
// may ask about another's (an admin's may), through SubjectAccessReviews
// for the autoscaler's ServiceAccount (-service-account, default the RBAC
// manifest's node-fleet/autoscaler). It exits 1 when a check fails.
//
// # Tick
//
// tick runs one tick now with the stock wiring, under the cluster's lock
// as the daemon's ticks are; with -dry-run (or DRY_RUN=true) it decides
// and records what it would do and does none of it.
//
// # Pause
//
// pause stores an autoscaler.Pause (who, when, why) in the cluster's state,
// under the lock as a tick writes it (a tick in progress would otherwise
// overwrite it: pause waits up to -wait for the lock). Every later tick
// holds whatever the policy or the floor and ceiling ask, with the reason
// "paused by <who> at <when>: <why>". Repair is held too: no ghost or
// NotReady instance is terminated and no interrupted spot instance is
// replaced while paused, because a maintenance window (a kernel upgrade, a
// control-plane restart) is exactly when nodes go NotReady or fail to join
// for reasons that are not theirs, and terminating them then makes the
// outage worse. What is already in flight is finished: an operation a tick
// left half-way is still completed or rolled back, and nodes of
// interrupted spot instances are still cordoned and drained, since AWS
// takes the instance whatever we decide.
//
// # Unlock
//
// unlock releases a lock left by a tick that died (a crashed daemon, a
// Lambda function killed mid-way): it refuses while the holder's lease is
// still valid, since a tick may be running, unless -force; it records who
// released it (status shows it) and advances the fencing token, so that a
// holder still running has its next state write refused. An expired lease
// is taken over by the next tick anyway; unlock only saves the wait.
//
// # Report
//
// report prices the fleet over a period from the decision history (the
// active instances at every tick) and the fleet's current instance types
// and markets, with the price table of prices.go (or -prices), and
// compares it with a static on-demand fleet sized for the period's peak
// (-spot-history takes the spot prices from EC2's spot price history for
// the period instead of the table).
// The history holds the last 720 ticks (a day of 2-minute ticks by
// default), so longer periods are cut to what it holds, and the report
// says so. -chart draws nodes, pending pods and CPU over the period.
// When the history records a forecast (the predictive policy's, acting
// or in forecast-only mode, FORECAST=shadow), the report judges each
// forecast at the lead it was made for (records stored without theirs at
// -lead, else PREDICTIVE_LEAD, and the report says which): its MASE
// against the naive "as
// now" forecast, its coverage of the peaks of the lead time after each
// tick, and in forecast-only mode the node-hours and cost the predictive
// policy would have had against the fleet's.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/state"
)

func main() {
	a := &app{
		getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr, now: time.Now,
		aws: func(ctx context.Context, region string) (aws.Config, error) {
			return awsutil.Load(ctx, awsutil.Options{Region: region})
		},
	}
	os.Exit(a.run(context.Background(), os.Args[1:]))
}

// app is the command with its surroundings, replaced in tests.
type app struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	now            func() time.Time
	aws            func(ctx context.Context, region string) (aws.Config, error)
}

// command is one subcommand.
type command struct {
	name, args, summary string
	// kube is true when the subcommand needs the API server.
	kube bool
	// flags adds the subcommand's own flags and returns what runs it.
	flags func(fs *flag.FlagSet) func(ctx context.Context, e *env) error
	// site, instead of flags, is a subcommand that reads the programs'
	// own configuration (the daemon's variables) rather than the
	// connection flags.
	site func(fs *flag.FlagSet) func(ctx context.Context, a *app) error
}

var commands = []command{
	{name: "status", summary: "who holds the lock, the operation in progress, pause, safety mode, the last decisions and the fleet", kube: true, flags: statusFlags},
	{name: "history", args: "[-since D] [-until T] [-action A,...] [-json]", summary: "the decision history as a table or JSON", flags: historyFlags},
	{name: "pause", args: "-reason WHY", summary: "hold every new scaling action until resume (stored with the state)", flags: pauseFlags},
	{name: "resume", summary: "end a pause", flags: resumeFlags},
	{name: "unlock", args: "[-force]", summary: "release a stuck lock (refused while its lease is valid unless -force)", flags: unlockFlags},
	{name: "report", args: "[-since D] [-chart file.png]", summary: "the fleet's cost over a period against a static fleet sized for its peak", flags: reportFlags},
	{name: "setup", args: "[-out DIR] [-apply] [-worker-role ARN] [-server-url URL]", summary: "create the DynamoDB table; write the IAM policies, the RBAC (-apply: apply it) and the workers' user data", site: setupFlags},
	{name: "doctor", args: "[-server-url URL] [-service-account NS/NAME]", summary: "check the configuration against AWS, Prometheus and the API server, with the fix for each failure", site: doctorFlags},
	{name: "tick", args: "[-dry-run]", summary: "run one tick now with the stock wiring, as the daemon does (-dry-run, DRY_RUN: decide and record, do nothing)", site: tickFlags},
}

// errUsage marks an error in the command line (exit status 2).
var errUsage = errors.New("usage")

func (a *app) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: nodefleet <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nnodefleet <command> -h lists the command's flags.")
}

// run runs the command line args and returns the exit status: 0, 1 when
// the command failed, 2 for a bad command line.
func (a *app) run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		a.usage(a.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == args[0] {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(a.stderr, "nodefleet: unknown command %q\n\n", args[0])
		a.usage(a.stderr)
		return 2
	}
	fs := flag.NewFlagSet("nodefleet "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	e := &env{app: a}
	var do func(ctx context.Context, e *env) error
	if cmd.site != nil {
		run := cmd.site(fs)
		do = func(ctx context.Context, e *env) error { return run(ctx, e.app) }
	} else {
		e.common(fs, cmd.kube)
		do = cmd.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: nodefleet %s %s\n\n%s.\n\nflags:\n", cmd.name, cmd.args, strings.ToUpper(cmd.summary[:1])+cmd.summary[1:])
		fs.PrintDefaults()
		if cmd.site != nil {
			fmt.Fprintf(fs.Output(), "\nsettings: the daemon's variables, from the environment (CLUSTER_ID, DYNAMODB_TABLE, PROMETHEUS_URL,\nSUBNET_IDS, LAUNCH_TEMPLATE_ID or LAUNCH_TEMPLATE_NAME, KUBECONFIG...: go doc ./config lists them)\n")
		}
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "nodefleet %s: unexpected argument %q (flags come before it? see -h)\n", cmd.name, fs.Arg(0))
		return 2
	}
	if cmd.site == nil {
		if err := e.connect(ctx, cmd.kube); err != nil {
			fmt.Fprintf(a.stderr, "nodefleet %s: %v\n", cmd.name, err)
			return 2
		}
	}
	if err := do(ctx, e); err != nil {
		err = awsutil.AddCredentialsHint(err)
		table, region := e.table, e.regionName
		if cmd.site != nil {
			// The programs' settings, not the state's flags.
			table, region = a.getenv("DYNAMODB_TABLE"), cmp.Or(a.getenv("AWS_REGION"), a.getenv("AWS_DEFAULT_REGION"))
		}
		var missing *ddbtypes.ResourceNotFoundException
		if errors.As(err, &missing) && table != "" {
			err = fmt.Errorf("the DynamoDB table %q (-table, DYNAMODB_TABLE) does not exist in region %s: %w", table, region, err)
		}
		fmt.Fprintf(a.stderr, "nodefleet %s: %v\n", cmd.name, err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

// env is what every subcommand shares: the settings and the connections.
type env struct {
	*app
	cluster, table, region          string
	kubeconfig, kubeSecret, nodeSel string
	by                              string
	regionName                      string // the region in use

	store *state.Dynamo
	ec2   *ec2.Client
	kube  kubernetes.Interface
}

func (e *env) common(fs *flag.FlagSet, kube bool) {
	fs.StringVar(&e.cluster, "cluster", e.getenv("CLUSTER_ID"), "the cluster's id (CLUSTER_ID)")
	fs.StringVar(&e.table, "table", e.getenv("DYNAMODB_TABLE"), "the DynamoDB table with the lock and state (DYNAMODB_TABLE)")
	region := e.getenv("AWS_REGION")
	if region == "" {
		region = e.getenv("AWS_DEFAULT_REGION")
	}
	fs.StringVar(&e.region, "region", region, "the AWS region (AWS_REGION); empty: the SDK's default chain")
	fs.StringVar(&e.by, "by", defaultWho(e.getenv), "who you are, recorded by pause and unlock (NODEFLEET_OPERATOR, else $USER@host)")
	if kube {
		fs.StringVar(&e.kubeconfig, "kubeconfig", e.getenv("KUBECONFIG"), "a kubeconfig file for the API server (KUBECONFIG)")
		fs.StringVar(&e.kubeSecret, "kubeconfig-secret", e.getenv("KUBECONFIG_SECRET"), "a Secrets Manager secret holding a kubeconfig, used when -kubeconfig is empty (KUBECONFIG_SECRET)")
		fs.StringVar(&e.nodeSel, "node-selector", e.getenv("NODE_SELECTOR"), "the label selector of the fleet's nodes (NODE_SELECTOR); empty: "+autoscaler.LabelCluster+"=<cluster>")
	}
}

func defaultWho(getenv func(string) string) string {
	if v := getenv("NODEFLEET_OPERATOR"); v != "" {
		return v
	}
	name := getenv("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	host, _ := os.Hostname()
	if host == "" {
		return name
	}
	return name + "@" + host
}

// connect checks the settings and makes the clients; it makes no call.
func (e *env) connect(ctx context.Context, kube bool) error {
	var missing []string
	if e.cluster == "" {
		missing = append(missing, "-cluster (CLUSTER_ID) is required")
	}
	if e.table == "" {
		missing = append(missing, "-table (DYNAMODB_TABLE) is required")
	}
	if e.by == "" {
		missing = append(missing, "-by (NODEFLEET_OPERATOR or USER) is required")
	}
	if e.cluster != "" {
		if err := config.CheckClusterID(e.cluster); err != nil {
			missing = append(missing, "-cluster ("+err.Error()+")")
		}
	}
	if e.table != "" {
		if err := config.CheckTableName(e.table); err != nil {
			missing = append(missing, "-table ("+err.Error()+")")
		}
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, "; "))
	}
	cfg, err := e.aws(ctx, e.region)
	if err != nil {
		return err
	}
	e.regionName = cfg.Region
	e.store, err = state.NewDynamo(state.DynamoConfig{Client: dynamodb.NewFromConfig(cfg), Table: e.table, ClusterID: e.cluster})
	if err != nil {
		return err
	}
	e.ec2 = ec2.NewFromConfig(cfg)
	if !kube {
		return nil
	}
	if e.nodeSel == "" {
		e.nodeSel = autoscaler.LabelCluster + "=" + e.cluster
	}
	var rc *rest.Config
	switch {
	case e.kubeconfig != "":
		if rc, err = clientcmd.BuildConfigFromFlags("", e.kubeconfig); err != nil {
			return fmt.Errorf("-kubeconfig %s: %w", e.kubeconfig, err)
		}
	case e.kubeSecret != "":
		if rc, err = kubeconfigFromSecret(ctx, secretsmanager.NewFromConfig(cfg), e.kubeSecret); err != nil {
			return err
		}
	default:
		if rc, err = rest.InClusterConfig(); err != nil {
			return errors.New("no -kubeconfig (KUBECONFIG) or -kubeconfig-secret (KUBECONFIG_SECRET), and not in a cluster")
		}
	}
	if rc.QPS == 0 && rc.Burst == 0 && rc.RateLimiter == nil {
		// The functions' own rate limit, not client-go's 5 QPS.
		rc.QPS, rc.Burst = config.KubeQPS, config.KubeBurst
	}
	e.kube, err = kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("kubernetes client for %s: %w", rc.Host, err)
	}
	return nil
}

// parseTime reads an absolute time (RFC 3339 or 2006-01-02[T15:04]) or a
// duration before now ("6h", "30m", "2d").
func parseTime(flagName, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if strings.HasSuffix(v, "d") {
		var days int
		if _, err := fmt.Sscanf(v, "%dd", &days); err == nil && fmt.Sprintf("%dd", days) == v {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("-%s %s: want a positive duration before now: %w", flagName, v, errUsage)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("-%s %q: want a duration before now (6h, 90m, 2d) or a time (2026-12-01T15:04:05Z, 2026-12-01): %w", flagName, v, errUsage)
}

// ago says how long before now t is, rounded for people.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	suffix := " ago"
	if d < 0 {
		d, suffix = -d, " from now"
	}
	return roundHuman(d) + suffix
}

func roundHuman(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// kubeconfigFromSecret reads a kubeconfig from a Secrets Manager secret's
// string, as config.KubeconfigFromSecret does for the daemon and the
// Lambda function (not imported: the operator command needs none of the
// policies config wires).
func kubeconfigFromSecret(ctx context.Context, client *secretsmanager.Client, id string) (*rest.Config, error) {
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, fmt.Errorf("read -kubeconfig-secret %s: %w", id, err)
	}
	if out.SecretString == nil || *out.SecretString == "" {
		return nil, fmt.Errorf("-kubeconfig-secret %s is empty: the K3s server writes it when it is up (deploy/server-init.sh)", id)
	}
	c, err := clientcmd.RESTConfigFromKubeConfig([]byte(*out.SecretString))
	if err != nil {
		return nil, fmt.Errorf("-kubeconfig-secret %s does not hold a usable kubeconfig: %w", id, err)
	}
	return c, nil
}
