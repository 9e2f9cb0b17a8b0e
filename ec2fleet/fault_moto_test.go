package ec2fleet_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/node-fleet/node-fleet/autoscaler"
)

// lagging is an EC2 client whose DescribeInstances does not show any
// instance yet while hide is set (EC2's DescribeInstances is eventually
// consistent: a just-launched instance can be missing for a while), or is
// throttled while throttle is set.
type lagging struct {
	*recorder
	hide, throttle bool
}

func (l *lagging) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if l.throttle {
		return nil, &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded. (injected)"}
	}
	if l.hide {
		return &ec2.DescribeInstancesOutput{}, nil
	}
	return l.recorder.Client.DescribeInstances(ctx, in, opts...)
}

// A retried launch whose first answer was lost, while DescribeInstances
// does not show the instances yet: the provider cannot find them by their
// operation tag, so it asks again, with the same ClientToken and the same
// request for the first zone, which EC2 answers with the first call's instances instead of
// launching new ones. (moto does not deduplicate by ClientToken, so the
// count of instances cannot be checked here; the token is the guarantee.)
func TestMotoLaggingDescribeInstancesRetryReusesTheClientToken(t *testing.T) {
	e := newMotoEnv(t)
	ctx := context.Background()
	lost := errors.New("connection reset by peer (injected after CreateFleet)")
	rec := e.recorder()
	rec.after = func(int) error { return lost }
	req := autoscaler.LaunchRequest{OperationID: "op-lag", Count: 2}
	if _, err := e.provider(t, rec, nil).Launch(ctx, req); !errors.Is(err, lost) {
		t.Fatalf("first Launch: %v, want the lost answer", err)
	}
	rec2 := e.recorder()
	lag := &lagging{recorder: rec2, hide: true}
	_, _ = e.provider(t, lag, nil).Launch(ctx, req)
	if len(rec.fleets) != 1 || len(rec2.fleets) == 0 {
		t.Fatalf("%d and %d CreateFleet calls, want 1 and at least 1", len(rec.fleets), len(rec2.fleets))
	}
	first, again := aws.ToString(rec.fleets[0].ClientToken), aws.ToString(rec2.fleets[0].ClientToken)
	if first == "" || first != again {
		t.Errorf("ClientTokens %q then %q: the retry must reuse the first one so that EC2 does not launch twice", first, again)
	}
	a, b := rec.fleets[0].TargetCapacitySpecification, rec2.fleets[0].TargetCapacitySpecification
	if aws.ToInt32(a.TotalTargetCapacity) != aws.ToInt32(b.TotalTargetCapacity) {
		t.Errorf("capacity %d then %d: a reused token with other parameters is refused by EC2", aws.ToInt32(a.TotalTargetCapacity), aws.ToInt32(b.TotalTargetCapacity))
	}
}

// Throttled DescribeInstances: List returns the error (not an empty
// fleet, which would look like every instance gone).
func TestMotoThrottledDescribeInstancesIsAnErrorNotAnEmptyFleet(t *testing.T) {
	e := newMotoEnv(t)
	ctx := context.Background()
	if _, err := e.provider(t, nil, nil).Launch(ctx, autoscaler.LaunchRequest{OperationID: "op-t", Count: 1}); err != nil {
		t.Fatal(err)
	}
	lag := &lagging{recorder: e.recorder(), throttle: true}
	ins, err := e.provider(t, lag, nil).List(ctx)
	if err == nil {
		t.Fatalf("List while throttled: %d instances and no error", len(ins))
	}
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "RequestLimitExceeded" {
		t.Errorf("List while throttled: %v, want the RequestLimitExceeded error", err)
	}
}
