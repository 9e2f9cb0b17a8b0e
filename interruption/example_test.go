package interruption_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/interruption"
)

// oneMessage is a queue holding one spot warning.
type oneMessage struct{ body string }

func (q *oneMessage) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if q.body == "" {
		return &sqs.ReceiveMessageOutput{}, nil
	}
	return &sqs.ReceiveMessageOutput{Messages: []types.Message{{MessageId: aws.String("m-1"), ReceiptHandle: aws.String("r-1"), Body: aws.String(q.body)}}}, nil
}

func (q *oneMessage) DeleteMessage(_ context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	fmt.Println("deleted", aws.ToString(in.ReceiptHandle))
	q.body = ""
	return &sqs.DeleteMessageOutput{}, nil
}

type printHandler struct{}

func (printHandler) HandleInterruption(_ context.Context, id string, notice time.Time) (autoscaler.Result, error) {
	fmt.Println("handling the warning for", id, "issued", notice.Format(time.RFC3339))
	return autoscaler.Result{}, nil
}

func Example() {
	q, err := interruption.New(interruption.Config{
		Client: &oneMessage{body: `{"source":"aws.ec2","detail-type":"EC2 Spot Instance Interruption Warning","time":"2026-12-07T04:00:00Z","detail":{"instance-id":"i-0123456789abcdef0","instance-action":"terminate"}}`},
		// A daemon passes its *autoscaler.Autoscaler (and Fleet, its
		// *ec2fleet.Provider) and calls Run.
		QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/prod-interruptions",
		Handler:  printHandler{},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	n, err := q.Poll(context.Background())
	fmt.Println(n, err)
	// Output:
	// handling the warning for i-0123456789abcdef0 issued 2026-12-07T04:00:00Z
	// deleted r-1
	// 1 <nil>
}
