package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/state"
)

// Tags of the deploy (deploy/stack.go): every resource carries the
// cluster tag and a Name, the server and the workers a role.
const (
	tagRole    = "node-fleet.io/role"
	roleServer = "k3s-server"
	roleWorker = "worker"
)

// Zones are the availability zones of the scenario's subnets.
var Zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

// Stack is what the deploy program creates in AWS, made in moto with the
// deploy's names and tags: the network (one private subnet a zone), the
// workers' launch template, the K3s server instance (tagged with the
// cluster and its role, never with managed-by), the state table, the
// secrets (K3s token, kubeconfig), the alerts' SNS topic.
type Stack struct {
	ClusterID      string
	Subnets        []string
	LaunchTemplate string
	ServerInstance string
	Table          string
	TokenSecret    string
	// KubeconfigSecret holds the autoscaler's kubeconfig (its
	// ServiceAccount's token), as server-init.sh writes it.
	KubeconfigSecret string
	// InstanceType is the workers' type (t3.medium: 2 vCPU, 4 GiB).
	InstanceType string
	// Topic is the SNS topic of the autoscaler's events (SNS_TOPIC_ARN);
	// AlertQueue is an SQS queue subscribed to it, where the scenario
	// reads what an operator's subscription would get.
	Topic, AlertQueue string
}

func clusterTags(clusterID, name string, extra ...string) []ec2types.Tag {
	tags := []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String(name)}, {Key: aws.String(ec2fleet.TagCluster), Value: aws.String(clusterID)}}
	for i := 0; i+1 < len(extra); i += 2 {
		tags = append(tags, ec2types.Tag{Key: aws.String(extra[i]), Value: aws.String(extra[i+1])})
	}
	return tags
}

// Deploy creates the Stack for clusterID in moto; kubeconfig is the
// autoscaler's kubeconfig, stored in the kubeconfig secret.
func Deploy(t testing.TB, awsCfg aws.Config, clusterID, kubeconfig string) *Stack {
	t.Helper()
	ctx := context.Background()
	c := ec2.NewFromConfig(awsCfg)
	name := func(s string) string { return clusterID + "-" + s }
	st := &Stack{ClusterID: clusterID, InstanceType: string(ec2types.InstanceTypeT3Medium)}
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("describe images: %v", err)
	}
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.40.0.0/16"),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVpc, Tags: clusterTags(clusterID, name("vpc"))}}})
	if err != nil {
		t.Fatal(err)
	}
	for i, z := range Zones {
		s, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String(z), CidrBlock: aws.String(fmt.Sprintf("10.40.%d.0/24", 10+i)),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSubnet, Tags: clusterTags(clusterID, name("private-"+z))}}})
		if err != nil {
			t.Fatal(err)
		}
		st.Subnets = append(st.Subnets, aws.ToString(s.Subnet.SubnetId))
	}
	st.LaunchTemplate = name("workers")
	if _, err := c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(st.LaunchTemplate),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: imgs.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Medium,
			TagSpecifications: []ec2types.LaunchTemplateTagSpecificationRequest{{ResourceType: ec2types.ResourceTypeInstance,
				Tags: clusterTags(clusterID, name("worker"), tagRole, roleWorker)}}}}); err != nil {
		t.Fatal(err)
	}
	srv, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: imgs.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Medium,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(st.Subnets[0]),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: clusterTags(clusterID, name("server"), tagRole, roleServer)}}})
	if err != nil {
		t.Fatal(err)
	}
	st.ServerInstance = aws.ToString(srv.Instances[0].InstanceId)
	st.Table = name("state")
	if err := state.CreateTable(ctx, dynamodb.NewFromConfig(awsCfg), st.Table, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	st.TokenSecret, st.KubeconfigSecret = clusterID+"/k3s-token", clusterID+"/kubeconfig"
	for _, s := range []struct{ name, value string }{{st.TokenSecret, randomHex(16)}, {st.KubeconfigSecret, kubeconfig}} {
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(s.name), SecretString: aws.String(s.value),
			Tags: []smtypes.Tag{{Key: aws.String(ec2fleet.TagCluster), Value: aws.String(clusterID)}}}); err != nil {
			t.Fatal(err)
		}
	}
	st.Topic, st.AlertQueue = subscribedTopic(t, awsCfg, clusterID)
	return st
}

// subscribedTopic creates the alerts' topic of clusterID and an SQS queue
// subscribed to it, and returns the topic's ARN and the queue's URL.
func subscribedTopic(t testing.TB, awsCfg aws.Config, clusterID string) (string, string) {
	t.Helper()
	ctx := context.Background()
	snsc, sqsc := sns.NewFromConfig(awsCfg), sqs.NewFromConfig(awsCfg)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(clusterID + "-events")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(clusterID + "-events")})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(qa.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(topic.TopicArn), aws.ToString(q.QueueUrl)
}

// LaunchWorkers launches n workers of st, one a subnet in turn, as a
// live node-fleet would have: from the launch template, with the
// fleet's tags (cluster, managed-by, the worker role). It returns their
// instance ids.
func LaunchWorkers(ctx context.Context, c *ec2.Client, st *Stack, n int) ([]string, error) {
	tags := clusterTags(st.ClusterID, st.ClusterID+"-worker", tagRole, roleWorker, ec2fleet.TagManagedBy, ec2fleet.ManagedByValue)
	var ids []string
	for i := 0; i < n; i++ {
		out, err := c.RunInstances(ctx, &ec2.RunInstancesInput{
			LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateName: aws.String(st.LaunchTemplate)},
			MinCount:       aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(st.Subnets[i%len(st.Subnets)]),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: tags}},
		})
		if err != nil {
			return ids, fmt.Errorf("launch worker %d of %d: %w", i+1, n, err)
		}
		ids = append(ids, aws.ToString(out.Instances[0].InstanceId))
	}
	return ids, nil
}

// ServerState returns the K3s server instance's state in EC2
// ("running", "terminated", ...).
func (s *Stack) ServerState(ctx context.Context, c *ec2.Client) (string, error) {
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{s.ServerInstance}})
	if err != nil {
		return "", err
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			return string(in.State.Name), nil
		}
	}
	return "gone", nil
}
