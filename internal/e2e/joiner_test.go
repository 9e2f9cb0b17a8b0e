package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/testenv"
)

// TestJoinerPlaysTheJoinScript: of four fleet instances in moto with a
// NeverJoin share of 0.5, two register Nodes after the boot delay (none
// before), with the join script's labels and K3s's providerID; the K3s
// server instance (no managed-by tag) never does; a terminated worker's
// Node goes after NodeGone.
func TestJoinerPlaysTheJoinScript(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	c := StartCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	awsCfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	cluster := "e2e-join-" + randomHex(3)
	st := Deploy(t, awsCfg, cluster, "kubeconfig")
	client := ec2.NewFromConfig(awsCfg)
	imgs, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: imgs.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Medium,
		MinCount: aws.Int32(4), MaxCount: aws.Int32(4), SubnetId: aws.String(st.Subnets[1]),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
			Tags: clusterTags(cluster, cluster+"-worker", tagRole, roleWorker, ec2fleet.TagManagedBy, ec2fleet.ManagedByValue)}}})
	if err != nil {
		t.Fatal(err)
	}
	j, err := NewJoiner(JoinerConfig{EC2: client, Kube: c.Admin, ClusterID: cluster, BootDelay: 2 * time.Second, NeverJoin: 0.5, NodeGone: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	go j.Run(ctx)
	nodes := func() map[string]string { // instance id: node name
		list, err := c.Admin.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, n := range list.Items {
			id := n.Labels[autoscaler.LabelInstanceID]
			if n.Labels[autoscaler.LabelCluster] != cluster || n.Spec.ProviderID != "k3s://"+n.Name || !strings.HasPrefix(n.Name, "ip-10-40-11-") {
				t.Errorf("node %s: labels %v, providerID %q", n.Name, n.Labels, n.Spec.ProviderID)
			}
			m[id] = n.Name
		}
		return m
	}
	waitUntil(t, c, 20*time.Second, "two nodes joined", func() bool { return len(nodes()) == 2 })
	if d := time.Since(started); d < 2*time.Second {
		t.Errorf("nodes joined %v after the joiner started, before the boot delay", d)
	}
	joined := nodes()
	if _, ok := joined[st.ServerInstance]; ok {
		t.Error("the server instance joined as a worker")
	}
	if never := j.Never(); len(never) != 2 {
		t.Errorf("never joining: %v, want 2 of 4", never)
	}
	time.Sleep(time.Second)
	if n := len(nodes()); n != 2 {
		t.Errorf("%d nodes a second later, want the never-joining instances still absent", n)
	}
	var victim string
	for _, in := range out.Instances {
		if _, ok := joined[aws.ToString(in.InstanceId)]; ok {
			victim = aws.ToString(in.InstanceId)
			break
		}
	}
	if _, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{victim}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, c, 20*time.Second, "the terminated instance's node deleted", func() bool {
		_, ok := nodes()[victim]
		return !ok
	})
}
