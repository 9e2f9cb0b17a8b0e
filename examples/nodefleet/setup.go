package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/provision"
	"github.com/node-fleet/node-fleet/state"
)

// site is what setup and doctor share: the programs' own configuration
// (the variables the daemon and the Lambda function read) and the AWS
// connection.
type site struct {
	*app
	cfg    config.Config
	aws    aws.Config
	region string
	// account is the AWS account's id, from the table's ARN.
	account string
	// serviceAccount is the autoscaler's ServiceAccount, NAMESPACE/NAME,
	// whose permissions doctor checks.
	serviceAccount string
}

// loadSite reads the programs' configuration from the environment, as the
// daemon does, and connects to AWS.
func (a *app) loadSite(ctx context.Context) (*site, error) {
	cfg, err := config.Load(config.Daemon, a.getenv, nil, nil)
	if err != nil {
		// The daemon's messages name its flags too; here only the
		// variables are read.
		msg := regexp.MustCompile(` \(-[a-z0-9-]+\)`).ReplaceAllString(err.Error(), "")
		return nil, fmt.Errorf("the settings (the daemon's variables; go doc ./config lists them): %s: %w", msg, errUsage)
	}
	region := a.getenv("AWS_REGION")
	if region == "" {
		region = a.getenv("AWS_DEFAULT_REGION")
	}
	awsCfg, err := a.aws(ctx, region)
	if err != nil {
		return nil, err
	}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("no AWS region: set AWS_REGION: %w", errUsage)
	}
	return &site{app: a, cfg: cfg, aws: awsCfg, region: awsCfg.Region}, nil
}

// setupOptions are setup's flags.
type setupOptions struct {
	out, workerRole, tokenSecret, serverURL, k3sVersion string
	apply                                               bool
}

func setupFlags(fs *flag.FlagSet) func(context.Context, *app) error {
	var o setupOptions
	fs.StringVar(&o.out, "out", "", "write the policies, the RBAC and the user data as files into this directory instead of printing them")
	fs.BoolVar(&o.apply, "apply", false, "apply the RBAC to the API server (KUBECONFIG) too; objects a Helm release manages (the chart's) are left alone")
	fs.StringVar(&o.workerRole, "worker-role", "", "the ARN of the workers' IAM role (the launch template's instance profile's), which the autoscaler passes to EC2")
	fs.StringVar(&o.tokenSecret, "token-secret", "", "the Secrets Manager secret (name or ARN) holding the K3s join token, for the user data (default node-fleet/<cluster>/k3s-token)")
	fs.StringVar(&o.serverURL, "server-url", "", "the K3s server's URL the workers join, https://HOST:6443 (default: the join script finds the instance tagged node-fleet.io/role=k3s-server)")
	fs.StringVar(&o.k3sVersion, "k3s-version", "", "the K3s version the workers install, the server's (e.g. v1.33.5+k3s1); default the installer's stable channel")
	return func(ctx context.Context, a *app) error {
		s, err := a.loadSite(ctx)
		if err != nil {
			return err
		}
		return s.setup(ctx, o)
	}
}

// setup creates the table, then writes what the cluster's owner has to
// put in place: the roles' policies, the RBAC (applied with -apply) and
// the workers' user data.
func (s *site) setup(ctx context.Context, o setupOptions) error {
	if o.tokenSecret == "" {
		o.tokenSecret = "node-fleet/" + s.cfg.ClusterID + "/k3s-token"
	}
	tableARN, err := s.ensureTable(ctx)
	if err != nil {
		return err
	}
	res, notes := s.resources(ctx, tableARN, o.workerRole)
	vars := map[string]string{provision.VarClusterID: s.cfg.ClusterID, provision.VarTokenSecret: o.tokenSecret}
	if o.serverURL != "" {
		vars[provision.VarServerURL] = o.serverURL
	}
	if o.k3sVersion != "" {
		vars[provision.VarK3sVersion] = o.k3sVersion
	}
	files := []struct{ name, what, body string }{
		{"lambda-policy.json", "the Lambda function's role policy", provision.NewPolicy(provision.LambdaStatements(res)).JSON() + "\n"},
		{"daemon-policy.json", "the daemon's role policy", provision.NewPolicy(provision.DaemonStatements(res)).JSON() + "\n"},
		{"worker-policy.json", "the workers' role policy", provision.NewPolicy(provision.WorkerStatements(s.secretARN(o.tokenSecret))).JSON() + "\n"},
		{"rbac.yaml", "the autoscaler's RBAC", provision.RBAC()},
		{"user-data.sh", "the workers' user data (the launch template's)", provision.UserData(provision.WorkerJoinScript(), vars)},
	}
	for _, f := range files {
		if o.out == "" {
			fmt.Fprintf(s.stdout, "# ---- %s: %s ----\n%s", f.name, f.what, f.body)
			continue
		}
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(o.out, f.name), []byte(f.body), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(s.stderr, "wrote %s: %s\n", filepath.Join(o.out, f.name), f.what)
	}
	for _, n := range notes {
		fmt.Fprintf(s.stderr, "note: %s\n", n)
	}
	if !o.apply {
		return nil
	}
	rc, err := config.KubeRESTConfig(ctx, s.cfg, s.aws)
	if err != nil {
		return err
	}
	return applyRBAC(ctx, rc, s.stderr)
}

// ensureTable creates the table or checks the one there, and returns its
// ARN.
func (s *site) ensureTable(ctx context.Context) (string, error) {
	client := dynamodb.NewFromConfig(s.aws)
	name := s.cfg.DynamoDBTable
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	var missing *ddbtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &missing):
		if err := state.CreateTable(ctx, client, name, 2*time.Minute); err != nil {
			return "", err
		}
		fmt.Fprintf(s.stderr, "table %s: created (on demand, key %s)\n", name, state.KeyAttribute)
		out, err = client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return "", err
		}
	case err != nil:
		return "", fmt.Errorf("table %s: %w", name, err)
	default:
		if problem := tableProblem(out.Table); problem != "" {
			return "", fmt.Errorf("table %s exists but %s: give DYNAMODB_TABLE a new name and run setup again", name, problem)
		}
		fmt.Fprintf(s.stderr, "table %s: exists, key %s\n", name, state.KeyAttribute)
	}
	return aws.ToString(out.Table.TableArn), nil
}

// tableProblem says what is wrong with the table's key, or "".
func tableProblem(t *ddbtypes.TableDescription) string {
	ks := t.KeySchema
	if len(ks) != 1 || aws.ToString(ks[0].AttributeName) != state.KeyAttribute || ks[0].KeyType != ddbtypes.KeyTypeHash {
		return fmt.Sprintf("its key is not the single hash key %s (string)", state.KeyAttribute)
	}
	for _, a := range t.AttributeDefinitions {
		if aws.ToString(a.AttributeName) == state.KeyAttribute && a.AttributeType != ddbtypes.ScalarAttributeTypeS {
			return fmt.Sprintf("its key %s is of type %s, not a string", state.KeyAttribute, a.AttributeType)
		}
	}
	return ""
}

// account is the account id of an ARN ("arn:aws:dynamodb:eu-west-1:123:table/x").
func account(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return "*"
	}
	return parts[4]
}

// secretARN is the ARN of a secret given by name or ARN: a name matches
// the random suffix Secrets Manager adds.
func (s *site) secretARN(nameOrARN string) string {
	if strings.HasPrefix(nameOrARN, "arn:") {
		return nameOrARN
	}
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-??????", s.region, s.account, nameOrARN)
}

// resources are the ARNs of the cluster's resources for its policies, and
// notes on what could not be found (left as wildcards of the account).
func (s *site) resources(ctx context.Context, tableARN, workerRole string) (provision.Resources, []string) {
	acct := account(tableARN)
	s.account = acct
	arn := func(kind, id string) string { return fmt.Sprintf("arn:aws:ec2:%s:%s:%s/%s", s.region, acct, kind, id) }
	r := provision.Resources{ClusterID: s.cfg.ClusterID, Table: tableARN, Topic: s.cfg.SNSTopicARN, WorkerRole: workerRole,
		LaunchTemplate: arn("launch-template", "*"), WorkerSecurityGroup: arn("security-group", "*")}
	var notes []string
	if s.cfg.KubeconfigSecret != "" {
		r.KubeconfigSecret = s.secretARN(s.cfg.KubeconfigSecret)
	}
	for _, id := range s.cfg.Subnets {
		r.Subnets = append(r.Subnets, arn("subnet", id))
	}
	if u := s.cfg.InterruptionQueueURL; u != "" {
		// https://sqs.REGION.amazonaws.com/ACCOUNT/NAME
		p := strings.Split(strings.TrimSuffix(u, "/"), "/")
		r.InterruptionQueue = fmt.Sprintf("arn:aws:sqs:%s:%s:%s", s.region, p[len(p)-2], p[len(p)-1])
	}
	if workerRole == "" {
		r.WorkerRole = fmt.Sprintf("arn:aws:iam::%s:role/WORKER-ROLE", acct)
		notes = append(notes, "iam:PassRole names the placeholder role WORKER-ROLE: give -worker-role the ARN of the workers' role")
	}
	lt, err := s.launchTemplate(ctx)
	if err != nil {
		return r, append(notes, fmt.Sprintf("the launch template (%s) cannot be read yet (%v): the policies allow any template of the account; run setup again once it exists", s.templateName(), err))
	}
	r.LaunchTemplate = arn("launch-template", aws.ToString(lt.LaunchTemplateId))
	if d := lt.LaunchTemplateData; d != nil {
		r.AMI = aws.ToString(d.ImageId)
		var groups []string
		groups = append(groups, d.SecurityGroupIds...)
		for _, ni := range d.NetworkInterfaces {
			groups = append(groups, ni.Groups...)
		}
		if len(groups) == 1 {
			r.WorkerSecurityGroup = arn("security-group", groups[0])
		}
	}
	return r, notes
}

// templateName names the configured launch template for messages.
func (s *site) templateName() string {
	if s.cfg.LaunchTemplateID != "" {
		return "LAUNCH_TEMPLATE_ID " + s.cfg.LaunchTemplateID
	}
	return "LAUNCH_TEMPLATE_NAME " + s.cfg.LaunchTemplateName
}

// launchTemplate reads the configured version of the launch template.
func (s *site) launchTemplate(ctx context.Context) (ec2types.LaunchTemplateVersion, error) {
	in := &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{s.cfg.LaunchTemplateVersion}}
	if in.Versions[0] == "" {
		in.Versions[0] = "$Default"
	}
	if s.cfg.LaunchTemplateID != "" {
		in.LaunchTemplateId = aws.String(s.cfg.LaunchTemplateID)
	} else {
		in.LaunchTemplateName = aws.String(s.cfg.LaunchTemplateName)
	}
	out, err := ec2.NewFromConfig(s.aws).DescribeLaunchTemplateVersions(ctx, in)
	if err != nil {
		return ec2types.LaunchTemplateVersion{}, err
	}
	if len(out.LaunchTemplateVersions) == 0 {
		return ec2types.LaunchTemplateVersion{}, fmt.Errorf("version %s not found", in.Versions[0])
	}
	return out.LaunchTemplateVersions[0], nil
}
