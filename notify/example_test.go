package notify_test

import (
	"context"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/notify"
)

// Wiring the SNS notifier and the CloudWatch publisher into an autoscaler
// configuration (it needs AWS, so this example is compiled, not run).
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Print(err)
		return
	}
	notifier, err := notify.NewSNS(notify.SNSConfig{
		Client:   sns.NewFromConfig(cfg),
		TopicARN: "arn:aws:sns:eu-west-1:123456789012:node-fleet-alerts",
	})
	if err != nil {
		log.Print(err)
		return
	}
	publisher, err := notify.NewCloudWatch(notify.CloudWatchConfig{
		Client:    cloudwatch.NewFromConfig(cfg),
		ClusterID: "prod",
		Namespace: "K3sAutoscaler",
	})
	if err != nil {
		log.Print(err)
		return
	}
	c := autoscaler.DefaultConfig()
	c.ClusterID = "prod"
	c.Notifier, c.Publisher = notifier, publisher
	// ... the other parts, then autoscaler.New(c).
}
