package main

import (
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/node-fleet/node-fleet/provision"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/dynamodb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

//go:embed server-init.sh
var serverInitScript string

// Tag keys and values shared with the library (ec2fleet.TagCluster,
// autoscaler.LabelCluster) and the join script.
const (
	tagCluster = "node-fleet.io/cluster"
	// tagManagedBy and managedByValue are ec2fleet.TagManagedBy and
	// ec2fleet.ManagedByValue: only the instances the autoscaler launches
	// carry them, and only those are its fleet. Every resource here
	// carries tagCluster; none carries tagManagedBy (the K3s server must
	// never be listed or terminated as a worker).
	tagManagedBy   = "node-fleet.io/managed-by"
	managedByValue = "node-fleet"
	tagRole        = "node-fleet.io/role"
	roleServer     = "k3s-server"
	roleWorker     = "worker"
	// tagInterruption is ec2fleet.TagInterruptionNotice, which ec2fleet
	// reads as an instance's interruption notice. Nothing in node-fleet
	// writes it (spot warnings reach the Lambda function through its
	// EventBridge rule and the daemon through its interruption queue);
	// an operator's tooling may, and the function's policy lets it tag
	// only that key.
	tagInterruption = "node-fleet.io/interruption-notice"
	// metricNamespace is the CloudWatch namespace of the autoscaler's own
	// metrics, published by the Lambda function.
	metricNamespace = "NodeFleet"
	// Ports open to the operators (adminCidrs) and inside the VPC.
	portK3sAPI     = 6443
	portPrometheus = 30090
)

// Settings are the stack's choices; Pulumi configuration sets them (see
// settingsFromConfig), tests set them directly.
type Settings struct {
	// ClusterID names the cluster (CLUSTER_ID, tags, labels).
	ClusterID string
	// Region is the AWS region, Zones two of its availability zones.
	Region string
	Zones  []string
	// VpcCIDR is the VPC's range; the four subnets are /24s in it.
	VpcCIDR string
	// AdminCIDRs may reach the K3s API (6443) and Prometheus (30090);
	// empty opens them to the VPC only.
	AdminCIDRs []string
	// ServerInstanceType and WorkerInstanceType size the machines;
	// AMI is an image id or a "resolve:ssm:" parameter.
	ServerInstanceType, WorkerInstanceType, AMI string
	// WorkerInstanceTypes, instead of WorkerInstanceType, are the types
	// the autoscaler may launch workers as (INSTANCE_TYPES, one EC2 Fleet
	// override per type and subnet); the workers' launch templates then
	// name no type.
	WorkerInstanceTypes []string
	// MinNodes, MaxNodes and SpotShare configure the autoscaler.
	MinNodes, MaxNodes int
	SpotShare          float64
	// K3sToken is the cluster's join token (a Pulumi secret).
	K3sToken pulumi.StringInput
	// LambdaZip is the path of the function's zip (make lambda) and
	// LambdaArch its architecture, arm64 or x86_64.
	LambdaZip, LambdaArch string
	// AlarmEmail, when set, subscribes an address to the SNS topic.
	AlarmEmail string
}

// Stack holds the resources that tests and outputs look at.
type Stack struct {
	Vpc              *ec2.Vpc
	PublicSubnets    []*ec2.Subnet
	PrivateSubnets   []*ec2.Subnet
	NatGateway       *ec2.NatGateway
	ServerSG         *ec2.SecurityGroup
	WorkerSG         *ec2.SecurityGroup
	LambdaSG         *ec2.SecurityGroup
	Server           *ec2.Instance
	WorkerOnDemand   *ec2.LaunchTemplate
	WorkerSpot       *ec2.LaunchTemplate
	Table            *dynamodb.Table
	Topic            *sns.Topic
	TokenSecret      *secretsmanager.Secret
	KubeconfigSecret *secretsmanager.Secret
	// AdminKubeconfigSecret holds the K3s admin kubeconfig the server
	// writes at boot, for the stack's owner only (see ownerAccess).
	AdminKubeconfigSecret *secretsmanager.Secret
	// ServerRole is the server instance's role: it reads the token,
	// writes both kubeconfigs and lets SSM Session Manager in.
	ServerRole        *iam.Role
	Function          *lambda.Function
	LambdaRole        *iam.Role
	LambdaPolicy      *iam.RolePolicy
	ScheduleRule      *cloudwatch.EventRule
	SpotRule          *cloudwatch.EventRule
	Alarms            map[string]*cloudwatch.MetricAlarm
	LambdaEnvironment pulumi.StringMap

	// InterruptionQueue, InterruptionRules and DaemonPolicy are the
	// daemon's interruption queue, the rules that fill it and its IAM
	// policy (see interruptionQueue).
	InterruptionQueue *sqs.Queue
	InterruptionRules []*cloudwatch.EventRule
	DaemonPolicy      *iam.Policy

	// Outputs are the stack's exported values by name: every name the
	// docs tell an owner to read with `pulumi stack output`.
	Outputs map[string]pulumi.Input

	workerRole    *iam.Role
	workerProfile *iam.InstanceProfile
}

// NewStack declares the original design's architecture: a VPC with two
// public and two private subnets in two zones and a NAT gateway, security
// groups that open only 6443 and 30090 beyond the cluster, the K3s server,
// the workers' launch templates (on-demand and spot), the DynamoDB table,
// the Lambda function with its schedule and spot-interruption rule, the
// daemon's interruption queue with its rules, the SNS topic, the
// CloudWatch alarms and least-privilege IAM.
func NewStack(ctx *pulumi.Context, s Settings) (*Stack, error) {
	st := &Stack{Alarms: map[string]*cloudwatch.MetricAlarm{}, Outputs: map[string]pulumi.Input{}}
	name := func(suffix string) string { return s.ClusterID + "-" + suffix }
	tags := func(n string, extra ...string) pulumi.StringMap {
		m := pulumi.StringMap{"Name": pulumi.String(n), tagCluster: pulumi.String(s.ClusterID)}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = pulumi.String(extra[i+1])
		}
		return m
	}
	var err error

	// Network.
	st.Vpc, err = ec2.NewVpc(ctx, name("vpc"), &ec2.VpcArgs{
		CidrBlock: pulumi.String(s.VpcCIDR), EnableDnsHostnames: pulumi.Bool(true), EnableDnsSupport: pulumi.Bool(true),
		Tags: tags(name("vpc")),
	})
	if err != nil {
		return nil, err
	}
	cidrs, err := subnetCIDRs(s.VpcCIDR, 4)
	if err != nil {
		return nil, err
	}
	igw, err := ec2.NewInternetGateway(ctx, name("igw"), &ec2.InternetGatewayArgs{VpcId: st.Vpc.ID(), Tags: tags(name("igw"))})
	if err != nil {
		return nil, err
	}
	publicRT, err := ec2.NewRouteTable(ctx, name("public"), &ec2.RouteTableArgs{
		VpcId:  st.Vpc.ID(),
		Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID()}},
		Tags:   tags(name("public")),
	})
	if err != nil {
		return nil, err
	}
	for i, zone := range s.Zones {
		n := name("public-" + zone)
		sub, err := ec2.NewSubnet(ctx, n, &ec2.SubnetArgs{
			VpcId: st.Vpc.ID(), CidrBlock: pulumi.String(cidrs[i]), AvailabilityZone: pulumi.String(zone),
			MapPublicIpOnLaunch: pulumi.Bool(true), Tags: tags(n),
		})
		if err != nil {
			return nil, err
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, n, &ec2.RouteTableAssociationArgs{SubnetId: sub.ID(), RouteTableId: publicRT.ID()}); err != nil {
			return nil, err
		}
		st.PublicSubnets = append(st.PublicSubnets, sub)
	}
	eip, err := ec2.NewEip(ctx, name("nat"), &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: tags(name("nat"))})
	if err != nil {
		return nil, err
	}
	st.NatGateway, err = ec2.NewNatGateway(ctx, name("nat"), &ec2.NatGatewayArgs{
		AllocationId: eip.ID(), SubnetId: st.PublicSubnets[0].ID(), Tags: tags(name("nat")),
	}, pulumi.DependsOn([]pulumi.Resource{igw}))
	if err != nil {
		return nil, err
	}
	privateRT, err := ec2.NewRouteTable(ctx, name("private"), &ec2.RouteTableArgs{
		VpcId:  st.Vpc.ID(),
		Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), NatGatewayId: st.NatGateway.ID()}},
		Tags:   tags(name("private")),
	})
	if err != nil {
		return nil, err
	}
	for i, zone := range s.Zones {
		n := name("private-" + zone)
		sub, err := ec2.NewSubnet(ctx, n, &ec2.SubnetArgs{
			VpcId: st.Vpc.ID(), CidrBlock: pulumi.String(cidrs[len(s.Zones)+i]), AvailabilityZone: pulumi.String(zone),
			MapPublicIpOnLaunch: pulumi.Bool(false), Tags: tags(n),
		})
		if err != nil {
			return nil, err
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, n, &ec2.RouteTableAssociationArgs{SubnetId: sub.ID(), RouteTableId: privateRT.ID()}); err != nil {
			return nil, err
		}
		st.PrivateSubnets = append(st.PrivateSubnets, sub)
	}

	if err := st.securityGroups(ctx, s, name, tags); err != nil {
		return nil, err
	}

	// Secrets: the K3s token (workers and server read it) and the
	// kubeconfig the server writes for the autoscaler.
	st.TokenSecret, err = secretsmanager.NewSecret(ctx, name("k3s-token"), &secretsmanager.SecretArgs{
		Name: pulumi.String(s.ClusterID + "/k3s-token"), Tags: tags(name("k3s-token")),
	})
	if err != nil {
		return nil, err
	}
	if _, err := secretsmanager.NewSecretVersion(ctx, name("k3s-token"), &secretsmanager.SecretVersionArgs{
		SecretId: st.TokenSecret.ID(), SecretString: s.K3sToken,
	}); err != nil {
		return nil, err
	}
	st.KubeconfigSecret, err = secretsmanager.NewSecret(ctx, name("kubeconfig"), &secretsmanager.SecretArgs{
		Name: pulumi.String(s.ClusterID + "/kubeconfig"), Tags: tags(name("kubeconfig")),
	})
	if err != nil {
		return nil, err
	}
	st.AdminKubeconfigSecret, err = secretsmanager.NewSecret(ctx, name("admin-kubeconfig"), &secretsmanager.SecretArgs{
		Name: pulumi.String(s.ClusterID + "/admin-kubeconfig"), Tags: tags(name("admin-kubeconfig")),
	})
	if err != nil {
		return nil, err
	}

	if err := st.machines(ctx, s, name, tags); err != nil {
		return nil, err
	}

	// State, notifications.
	st.Table, err = dynamodb.NewTable(ctx, name("state"), &dynamodb.TableArgs{
		Name:                pulumi.String(s.ClusterID + "-cluster-state"),
		BillingMode:         pulumi.String("PAY_PER_REQUEST"),
		HashKey:             pulumi.String("cluster_id"),
		Attributes:          dynamodb.TableAttributeArray{dynamodb.TableAttributeArgs{Name: pulumi.String("cluster_id"), Type: pulumi.String("S")}},
		PointInTimeRecovery: dynamodb.TablePointInTimeRecoveryArgs{Enabled: pulumi.Bool(true)},
		Tags:                tags(name("state")),
	})
	if err != nil {
		return nil, err
	}
	st.Topic, err = sns.NewTopic(ctx, name("events"), &sns.TopicArgs{Name: pulumi.String(name("events")), Tags: tags(name("events"))})
	if err != nil {
		return nil, err
	}
	if s.AlarmEmail != "" {
		if _, err := sns.NewTopicSubscription(ctx, name("email"), &sns.TopicSubscriptionArgs{
			Topic: st.Topic.Arn, Protocol: pulumi.String("email"), Endpoint: pulumi.String(s.AlarmEmail),
		}); err != nil {
			return nil, err
		}
	}

	if err := st.function(ctx, s, name, tags); err != nil {
		return nil, err
	}
	if err := st.interruptionQueue(ctx, s, name, tags); err != nil {
		return nil, err
	}
	if err := st.monitoring(ctx, s, name, tags); err != nil {
		return nil, err
	}

	if err := st.ownerAccess(ctx, name); err != nil {
		return nil, err
	}
	st.export(ctx)
	return st, nil
}

type namer func(string) string
type tagger func(n string, extra ...string) pulumi.StringMap

func (st *Stack) securityGroups(ctx *pulumi.Context, s Settings, name namer, tags tagger) error {
	open := append([]string{s.VpcCIDR}, s.AdminCIDRs...)
	allOut := ec2.SecurityGroupEgressArray{ec2.SecurityGroupEgressArgs{
		Protocol: pulumi.String("-1"), FromPort: pulumi.Int(0), ToPort: pulumi.Int(0), CidrBlocks: pulumi.ToStringArray([]string{"0.0.0.0/0"}),
	}}
	var err error
	st.LambdaSG, err = ec2.NewSecurityGroup(ctx, name("lambda"), &ec2.SecurityGroupArgs{
		VpcId: st.Vpc.ID(), Description: pulumi.String("node-fleet autoscaler function: no ingress"),
		Egress: allOut, Tags: tags(name("lambda")),
	})
	if err != nil {
		return err
	}
	st.WorkerSG, err = ec2.NewSecurityGroup(ctx, name("workers"), &ec2.SecurityGroupArgs{
		VpcId: st.Vpc.ID(), Description: pulumi.String("node-fleet workers: cluster traffic only"),
		Egress: allOut, Tags: tags(name("workers")),
	})
	if err != nil {
		return err
	}
	st.ServerSG, err = ec2.NewSecurityGroup(ctx, name("server"), &ec2.SecurityGroupArgs{
		VpcId: st.Vpc.ID(), Description: pulumi.String("node-fleet K3s server: 6443 and 30090 from the VPC and the operators"),
		Ingress: ec2.SecurityGroupIngressArray{
			ec2.SecurityGroupIngressArgs{Description: pulumi.String("K3s API"), Protocol: pulumi.String("tcp"),
				FromPort: pulumi.Int(portK3sAPI), ToPort: pulumi.Int(portK3sAPI), CidrBlocks: pulumi.ToStringArray(open)},
			ec2.SecurityGroupIngressArgs{Description: pulumi.String("Prometheus"), Protocol: pulumi.String("tcp"),
				FromPort: pulumi.Int(portPrometheus), ToPort: pulumi.Int(portPrometheus), CidrBlocks: pulumi.ToStringArray(open)},
		},
		Egress: allOut, Tags: tags(name("server")),
	})
	if err != nil {
		return err
	}
	// Inside the cluster (server and workers, both ways): kubelet 10250,
	// flannel VXLAN 8472/udp, node_exporter 9100; never from outside.
	type port struct {
		proto    string
		from, to int
		what     string
	}
	internal := []port{{"tcp", 10250, 10250, "kubelet"}, {"udp", 8472, 8472, "flannel VXLAN"}, {"tcp", 9100, 9100, "node_exporter"}, {"tcp", 30000, 32767, "NodePorts"}}
	pairs := []struct {
		n        string
		to, from *ec2.SecurityGroup
	}{{"w-from-s", st.WorkerSG, st.ServerSG}, {"w-from-w", st.WorkerSG, st.WorkerSG}, {"s-from-w", st.ServerSG, st.WorkerSG}}
	for _, pr := range pairs {
		for _, p := range internal {
			n := name(fmt.Sprintf("%s-%s-%d", pr.n, p.proto, p.from))
			if _, err := ec2.NewSecurityGroupRule(ctx, n, &ec2.SecurityGroupRuleArgs{
				Type: pulumi.String("ingress"), SecurityGroupId: pr.to.ID(), SourceSecurityGroupId: pr.from.ID(),
				Protocol: pulumi.String(p.proto), FromPort: pulumi.Int(p.from), ToPort: pulumi.Int(p.to), Description: pulumi.String(p.what),
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// userData prepends the variables to a script and encodes it as EC2 wants.
func userData(script string, vars map[string]pulumi.StringInput) pulumi.StringOutput {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []any
	for _, k := range keys {
		parts = append(parts, vars[k])
	}
	return pulumi.All(parts...).ApplyT(func(vals []any) string {
		m := make(map[string]string, len(keys))
		for i, k := range keys {
			m[k] = vals[i].(string)
		}
		return provision.UserData(script, m)
	}).(pulumi.StringOutput)
}

func (st *Stack) machines(ctx *pulumi.Context, s Settings, name namer, tags tagger) error {
	assume := func(service string) pulumi.String {
		b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"Service": service}, "Action": "sts:AssumeRole"}}})
		return pulumi.String(b)
	}
	// The server reads the token and writes the two kubeconfigs; SSM
	// Session Manager is its owner's way in (no SSH key, no open port).
	serverRole, err := iam.NewRole(ctx, name("server"), &iam.RoleArgs{AssumeRolePolicy: assume("ec2.amazonaws.com"), Tags: tags(name("server"))})
	if err != nil {
		return err
	}
	st.ServerRole = serverRole
	if _, err := iam.NewRolePolicy(ctx, name("server"), &iam.RolePolicyArgs{Role: serverRole.ID(),
		Policy: policyJSON(pulumi.All(st.TokenSecret.Arn, st.KubeconfigSecret.Arn, st.AdminKubeconfigSecret.Arn), func(v []any) []statement {
			return []statement{
				{Sid: "ReadK3sToken", Action: []string{"secretsmanager:GetSecretValue"}, Resource: []string{v[0].(string)}},
				{Sid: "WriteKubeconfigs", Action: []string{"secretsmanager:PutSecretValue"}, Resource: []string{v[1].(string), v[2].(string)}},
			}
		})}); err != nil {
		return err
	}
	if _, err := iam.NewRolePolicyAttachment(ctx, name("server-ssm"), &iam.RolePolicyAttachmentArgs{
		Role: serverRole.Name, PolicyArn: pulumi.String(ssmManagedInstancePolicy),
	}); err != nil {
		return err
	}
	serverProfile, err := iam.NewInstanceProfile(ctx, name("server"), &iam.InstanceProfileArgs{Role: serverRole.Name})
	if err != nil {
		return err
	}
	// Workers read the token and find the server.
	st.workerRole, err = iam.NewRole(ctx, name("worker"), &iam.RoleArgs{AssumeRolePolicy: assume("ec2.amazonaws.com"), Tags: tags(name("worker"))})
	if err != nil {
		return err
	}
	if _, err := iam.NewRolePolicy(ctx, name("worker"), &iam.RolePolicyArgs{Role: st.workerRole.ID(),
		Policy: policyJSON(pulumi.All(st.TokenSecret.Arn), func(v []any) []statement {
			return provision.WorkerStatements(v[0].(string))
		})}); err != nil {
		return err
	}
	workerProfile, err := iam.NewInstanceProfile(ctx, name("worker"), &iam.InstanceProfileArgs{Role: st.workerRole.Name})
	if err != nil {
		return err
	}
	st.workerProfile = workerProfile

	imdsv2 := ec2.InstanceMetadataOptionsArgs{HttpTokens: pulumi.String("required"), HttpEndpoint: pulumi.String("enabled"), HttpPutResponseHopLimit: pulumi.Int(2)}
	st.Server, err = ec2.NewInstance(ctx, name("server"), &ec2.InstanceArgs{
		Ami: pulumi.String(s.AMI), InstanceType: pulumi.String(s.ServerInstanceType),
		SubnetId: st.PublicSubnets[0].ID(), VpcSecurityGroupIds: pulumi.StringArray{st.ServerSG.ID()},
		IamInstanceProfile: serverProfile.Name, MetadataOptions: imdsv2,
		UserData: userData(serverInitScript, map[string]pulumi.StringInput{
			"NODEFLEET_CLUSTER_ID": pulumi.String(s.ClusterID), "NODEFLEET_TOKEN_SECRET": st.TokenSecret.Name,
			"NODEFLEET_KUBECONFIG_SECRET":       st.KubeconfigSecret.Name,
			"NODEFLEET_ADMIN_KUBECONFIG_SECRET": st.AdminKubeconfigSecret.Name,
		}),
		Tags: tags(name("server"), tagRole, roleServer),
	})
	if err != nil {
		return err
	}

	join := userData(provision.WorkerJoinScript(), map[string]pulumi.StringInput{
		"NODEFLEET_CLUSTER_ID": pulumi.String(s.ClusterID), "NODEFLEET_TOKEN_SECRET": st.TokenSecret.Name,
		"NODEFLEET_SERVER_URL": pulumi.Sprintf("https://%s:%d", st.Server.PrivateIp, portK3sAPI),
	}).ApplyT(func(u string) string { return base64.StdEncoding.EncodeToString([]byte(u)) }).(pulumi.StringOutput)
	template := func(n string, market ec2.LaunchTemplateInstanceMarketOptionsPtrInput) (*ec2.LaunchTemplate, error) {
		// With a list of types the autoscaler names the type in each of
		// its fleet's overrides; the template pins none.
		var instanceType pulumi.StringPtrInput
		if len(s.WorkerInstanceTypes) == 0 {
			instanceType = pulumi.String(s.WorkerInstanceType)
		}
		return ec2.NewLaunchTemplate(ctx, name(n), &ec2.LaunchTemplateArgs{
			Name: pulumi.String(name(n)), ImageId: pulumi.String(s.AMI), InstanceType: instanceType,
			UserData: join, VpcSecurityGroupIds: pulumi.StringArray{st.WorkerSG.ID()},
			IamInstanceProfile:    ec2.LaunchTemplateIamInstanceProfileArgs{Arn: workerProfile.Arn},
			MetadataOptions:       ec2.LaunchTemplateMetadataOptionsArgs{HttpTokens: pulumi.String("required"), HttpEndpoint: pulumi.String("enabled"), HttpPutResponseHopLimit: pulumi.Int(2)},
			InstanceMarketOptions: market,
			TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{
				ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("instance"), Tags: tags(name("worker"), tagRole, roleWorker)},
				ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("volume"), Tags: tags(name("worker"))},
			},
			Tags: tags(name(n)),
		})
	}
	// The autoscaler launches from the on-demand template through EC2
	// Fleet and asks for spot itself (ec2fleet's spot share and
	// fallback; a fleet's template must not name a market); the spot
	// template is for launching spot workers by hand or by other tools.
	if st.WorkerOnDemand, err = template("worker", nil); err != nil {
		return err
	}
	st.WorkerSpot, err = template("worker-spot", ec2.LaunchTemplateInstanceMarketOptionsArgs{
		MarketType:  pulumi.String("spot"),
		SpotOptions: ec2.LaunchTemplateInstanceMarketOptionsSpotOptionsArgs{InstanceInterruptionBehavior: pulumi.String("terminate"), SpotInstanceType: pulumi.String("one-time")},
	})
	return err
}

func (st *Stack) function(ctx *pulumi.Context, s Settings, name namer, tags tagger) error {
	var err error
	st.LambdaRole, err = iam.NewRole(ctx, name("autoscaler"), &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`),
		Tags:             tags(name("autoscaler")),
	})
	if err != nil {
		return err
	}
	// Logs and the network interfaces of a function in a VPC.
	if _, err := iam.NewRolePolicyAttachment(ctx, name("autoscaler-vpc"), &iam.RolePolicyAttachmentArgs{
		Role: st.LambdaRole.Name, PolicyArn: pulumi.String("arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"),
	}); err != nil {
		return err
	}
	st.LambdaPolicy, err = iam.NewRolePolicy(ctx, name("autoscaler"), &iam.RolePolicyArgs{
		Role: st.LambdaRole.ID(),
		Policy: policyJSON(pulumi.All(st.Table.Arn, st.Topic.Arn, st.KubeconfigSecret.Arn, st.WorkerOnDemand.Arn,
			st.PrivateSubnets[0].Arn, st.PrivateSubnets[1].Arn, st.WorkerSG.Arn, st.workerRole.Arn),
			func(v []any) []statement { return lambdaStatements(s, v) }),
	})
	if err != nil {
		return err
	}

	subnetIDs := pulumi.All(st.PrivateSubnets[0].ID(), st.PrivateSubnets[1].ID()).ApplyT(func(v []any) string {
		return fmt.Sprintf("%s,%s", v[0], v[1])
	}).(pulumi.StringOutput)
	st.LambdaEnvironment = pulumi.StringMap{
		"CLUSTER_ID":         pulumi.String(s.ClusterID),
		"PROMETHEUS_URL":     pulumi.Sprintf("http://%s:%d", st.Server.PrivateIp, portPrometheus),
		"DYNAMODB_TABLE":     st.Table.Name,
		"SNS_TOPIC_ARN":      st.Topic.Arn,
		"MIN_NODES":          pulumi.String(strconv.Itoa(s.MinNodes)),
		"MAX_NODES":          pulumi.String(strconv.Itoa(s.MaxNodes)),
		"LAUNCH_TEMPLATE_ID": st.WorkerOnDemand.ID(),
		"SUBNET_IDS":         subnetIDs,
		"SPOT_SHARE":         pulumi.String(strconv.FormatFloat(s.SpotShare, 'f', -1, 64)),
		"KUBECONFIG_SECRET":  st.KubeconfigSecret.Name,
		// The workers' CPU and memory without the server's: the chart's
		// node_exporter runs on the host network, so its instance label
		// is the node's IP and port.
		"PROMETHEUS_NODE_SELECTOR": pulumi.Sprintf(`instance!~"%s:.*"`, st.Server.PrivateIp),
		// The function's timeout is 4 minutes: the lock outlives it
		// and a drain ends well before it.
		"LOCK_TTL":      pulumi.String("5m"),
		"DRAIN_TIMEOUT": pulumi.String("150s"),
	}
	if len(s.WorkerInstanceTypes) > 0 {
		st.LambdaEnvironment["INSTANCE_TYPES"] = pulumi.String(strings.Join(s.WorkerInstanceTypes, ","))
	}
	st.Function, err = lambda.NewFunction(ctx, name("autoscaler"), &lambda.FunctionArgs{
		Name: pulumi.String(name("autoscaler")), Role: st.LambdaRole.Arn,
		Runtime: pulumi.String("provided.al2023"), Handler: pulumi.String("bootstrap"),
		Architectures: pulumi.StringArray{pulumi.String(s.LambdaArch)},
		Code:          pulumi.NewFileArchive(s.LambdaZip),
		MemorySize:    pulumi.Int(256), Timeout: pulumi.Int(240),
		Environment: lambda.FunctionEnvironmentArgs{Variables: st.LambdaEnvironment},
		VpcConfig: lambda.FunctionVpcConfigArgs{
			SubnetIds:        pulumi.StringArray{st.PrivateSubnets[0].ID(), st.PrivateSubnets[1].ID()},
			SecurityGroupIds: pulumi.StringArray{st.LambdaSG.ID()},
		},
		LoggingConfig: lambda.FunctionLoggingConfigArgs{LogFormat: pulumi.String("JSON")},
		Tags:          tags(name("autoscaler")),
	})
	if err != nil {
		return err
	}

	rule := func(n string, args *cloudwatch.EventRuleArgs) (*cloudwatch.EventRule, error) {
		args.Tags = tags(name(n))
		r, err := cloudwatch.NewEventRule(ctx, name(n), args)
		if err != nil {
			return nil, err
		}
		if _, err := cloudwatch.NewEventTarget(ctx, name(n), &cloudwatch.EventTargetArgs{Rule: r.Name, Arn: st.Function.Arn}); err != nil {
			return nil, err
		}
		_, err = lambda.NewPermission(ctx, name(n), &lambda.PermissionArgs{
			Action: pulumi.String("lambda:InvokeFunction"), Function: st.Function.Name,
			Principal: pulumi.String("events.amazonaws.com"), SourceArn: r.Arn,
		})
		return r, err
	}
	if st.ScheduleRule, err = rule("tick", &cloudwatch.EventRuleArgs{
		Description: pulumi.String("node-fleet: one autoscaler tick every 2 minutes"), ScheduleExpression: pulumi.String("rate(2 minutes)"),
	}); err != nil {
		return err
	}
	st.SpotRule, err = rule("spot-interruption", &cloudwatch.EventRuleArgs{
		Description:  pulumi.String("node-fleet: EC2 spot interruption warnings, to drain and replace at once"),
		EventPattern: pulumi.String(`{"source":["aws.ec2"],"detail-type":["EC2 Spot Instance Interruption Warning"]}`),
	})
	return err
}

func (st *Stack) alarms(ctx *pulumi.Context, s Settings, name namer, tags tagger) error {
	type alarm struct {
		key, description, namespace, metric, statistic, comparison string
		dims                                                       pulumi.StringMapInput
		threshold                                                  float64
		period, periods                                            int
	}
	list := []alarm{
		{"lambda-errors", "Scaling failure: the autoscaler function failed 3 times in a row", "AWS/Lambda", "Errors", "Sum",
			"GreaterThanOrEqualToThreshold", pulumi.StringMap{"FunctionName": st.Function.Name}, 1, 120, 3},
		{"cpu-overload", "CPU overload: the workers' average CPU above 90% for 5 minutes", metricNamespace, "ClusterCPUUtilization", "Average",
			"GreaterThanThreshold", pulumi.StringMap{"ClusterId": pulumi.String(s.ClusterID)}, 90, 60, 5},
		{"at-max", "Capacity warning: the fleet at MAX_NODES for 10 minutes", metricNamespace, "NodeCount", "Minimum",
			"GreaterThanOrEqualToThreshold", pulumi.StringMap{"ClusterId": pulumi.String(s.ClusterID)}, float64(s.MaxNodes), 120, 5},
	}
	for _, a := range list {
		m, err := cloudwatch.NewMetricAlarm(ctx, name(a.key), &cloudwatch.MetricAlarmArgs{
			Name: pulumi.String(name(a.key)), AlarmDescription: pulumi.String(a.description),
			Namespace: pulumi.String(a.namespace), MetricName: pulumi.String(a.metric), Dimensions: a.dims,
			Statistic: pulumi.String(a.statistic), ComparisonOperator: pulumi.String(a.comparison),
			Threshold: pulumi.Float64(a.threshold), Period: pulumi.Int(a.period),
			EvaluationPeriods: pulumi.Int(a.periods), DatapointsToAlarm: pulumi.Int(a.periods),
			TreatMissingData: pulumi.String("notBreaching"),
			AlarmActions:     pulumi.Array{st.Topic.Arn}, OkActions: pulumi.Array{st.Topic.Arn},
			Tags: tags(name(a.key)),
		})
		if err != nil {
			return err
		}
		st.Alarms[a.key] = m
	}
	return nil
}
