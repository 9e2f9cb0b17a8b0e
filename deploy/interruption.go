package main

import (
	"encoding/json"

	"github.com/node-fleet/node-fleet/provision"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// interruptionEvents are the EC2 events the daemon's queue receives, by
// the name of the rule that sends each (Karpenter's interruption queue
// takes the same three, and AWS Health events, from EC2).
// A state change is sent only for the states in which an instance leaves
// the fleet (those the daemon acts on, interruption.Queue): the account's
// other instances start and run all day.
var interruptionEvents = []struct {
	rule, detailType string
	states           []string
}{
	{"daemon-spot-interruption", "EC2 Spot Instance Interruption Warning", nil},
	{"daemon-rebalance", "EC2 Instance Rebalance Recommendation", nil},
	{"daemon-state-change", "EC2 Instance State-change Notification", []string{"stopping", "stopped", "shutting-down", "terminated"}},
}

// interruptionQueueVisibility is the queue's visibility timeout, in
// seconds: longer than the daemon's handling of one warning (two
// minutes, interruption.Config.HandleTimeout), so that a warning in hand
// is not delivered to the other replica as well.
const interruptionQueueVisibility = 180

// interruptionQueue declares the daemon's interruption queue: an SQS queue
// that keeps a message 5 minutes (a spot warning is worth nothing after
// the 2 minutes it announces), the EventBridge rules that fill it, the
// queue policy that lets those rules (and nothing else) send to it, and
// the daemon's IAM policy: the Lambda function's, less what the daemon
// does not call, plus reading and deleting this queue's messages. The
// Lambda function keeps its own direct spot-warning rule.
func (st *Stack) interruptionQueue(ctx *pulumi.Context, s Settings, name namer, tags tagger) error {
	var err error
	st.InterruptionQueue, err = sqs.NewQueue(ctx, name("interruptions"), &sqs.QueueArgs{
		Name:                     pulumi.String(name("interruptions")),
		MessageRetentionSeconds:  pulumi.Int(300),
		VisibilityTimeoutSeconds: pulumi.Int(interruptionQueueVisibility),
		SqsManagedSseEnabled:     pulumi.Bool(true),
		Tags:                     tags(name("interruptions")),
	})
	if err != nil {
		return err
	}
	var ruleArns []any
	for _, ev := range interruptionEvents {
		p := map[string]any{"source": []string{"aws.ec2"}, "detail-type": []string{ev.detailType}}
		if ev.states != nil {
			p["detail"] = map[string][]string{"state": ev.states}
		}
		pattern, _ := json.Marshal(p)
		r, err := cloudwatch.NewEventRule(ctx, name(ev.rule), &cloudwatch.EventRuleArgs{
			Description:  pulumi.String("node-fleet: " + ev.detailType + " to the daemon's interruption queue"),
			EventPattern: pulumi.String(pattern),
			Tags:         tags(name(ev.rule)),
		})
		if err != nil {
			return err
		}
		if _, err := cloudwatch.NewEventTarget(ctx, name(ev.rule), &cloudwatch.EventTargetArgs{Rule: r.Name, Arn: st.InterruptionQueue.Arn}); err != nil {
			return err
		}
		st.InterruptionRules = append(st.InterruptionRules, r)
		ruleArns = append(ruleArns, r.Arn)
	}
	if _, err := sqs.NewQueuePolicy(ctx, name("interruptions"), &sqs.QueuePolicyArgs{
		QueueUrl: st.InterruptionQueue.Url,
		Policy: pulumi.All(append([]any{st.InterruptionQueue.Arn}, ruleArns...)...).ApplyT(func(v []any) (string, error) {
			return queuePolicy(v[0].(string), v[1:])
		}).(pulumi.StringOutput),
	}); err != nil {
		return err
	}
	st.DaemonPolicy, err = iam.NewPolicy(ctx, name("daemon"), &iam.PolicyArgs{
		Name:        pulumi.String(name("daemon")),
		Description: pulumi.String("node-fleet daemon: attach to the role the daemon's AWS credentials come from"),
		Policy: policyJSON(pulumi.All(st.Table.Arn, st.Topic.Arn, st.KubeconfigSecret.Arn, st.WorkerOnDemand.Arn,
			st.PrivateSubnets[0].Arn, st.PrivateSubnets[1].Arn, st.WorkerSG.Arn, st.workerRole.Arn, st.InterruptionQueue.Arn),
			func(v []any) []statement { return daemonStatements(s, v) }),
		Tags: tags(name("daemon")),
	})
	if err != nil {
		return err
	}
	return nil
}

// daemonStatements is the daemon's policy (provision.DaemonStatements):
// v[:8] as lambdaStatements reads them, v[8] the interruption queue's ARN.
func daemonStatements(s Settings, v []any) []statement {
	return provision.DaemonStatements(resources(s, v))
}

// queuePolicy lets EventBridge send to the queue, only from the rules.
func queuePolicy(queue string, rules []any) (string, error) {
	b, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid": "EventBridgeRules", "Effect": "Allow",
			"Principal": map[string]any{"Service": "events.amazonaws.com"},
			"Action":    "sqs:SendMessage", "Resource": queue,
			"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": rules}},
		}},
	})
	return string(b), err
}
