package autoscaler_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"fmt"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"net/http"
)

// A condition that stays (here EC2 refusing to list the fleet, tick after
// tick) is alerted once, then again only after RealertInterval, not at
// every tick; a different condition of the same kind is alerted at once,
// and so is the first one when it comes back after clearing.
func TestRepeatedAlertIsResentOnlyAfterTheRealertInterval(t *testing.T) {
	e := newEnv(t, 3, func(c *autoscaler.Config) { c.RealertInterval = 30 * time.Minute })
	e.joinAll(t)
	denied := errors.New("UnauthorizedOperation: not allowed to describe instances")
	failures := func() int { return e.kinds()[autoscaler.EventFailure] }
	tick := func(err error) {
		t.Helper()
		if err != nil {
			e.fleet.FailNext(fake.List, err)
		}
		_, _ = e.as.RunOnce(context.Background())
		e.clk.Step(2 * time.Minute)
	}
	var got []int
	for range 15 { // 30 minutes of 2-minute ticks
		tick(denied)
		got = append(got, failures())
	}
	if got[0] != 1 || got[14] != 1 {
		t.Fatalf("failure alerts after each of 15 ticks of the same failure: %v, want 1 throughout", got)
	}
	tick(denied) // 30 minutes after the first alert
	if n := failures(); n != 2 {
		t.Errorf("%d failure alerts once RealertInterval has passed, want 2", n)
	}
	tick(errors.New("RequestLimitExceeded"))
	if n := failures(); n != 3 {
		t.Errorf("%d failure alerts after a different failure, want 3", n)
	}
	tick(nil) // cleared
	tick(denied)
	if n := failures(); n != 4 {
		t.Errorf("%d failure alerts after the first failure came back, want 4", n)
	}
	if marks := e.store.State().Alerted; len(marks) != 1 || marks[0].Kind != autoscaler.EventFailure || len(marks[0].Subjects) != 16 {
		t.Errorf("stored marks %+v, want one for the failure", marks)
	}
}

// A mark stored in the future (another replica's fast clock) holds
// nothing back.
func TestAlertMarkInTheFutureDoesNotHoldAnAlertBack(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	e.fleet.FailNext(fake.List, errors.New("denied"))
	_, _ = e.as.RunOnce(context.Background())
	st := e.store.State()
	st.Alerted[0].At = e.clk.Now().Add(time.Hour)
	if err := e.store.SetState(st); err != nil {
		t.Fatal(err)
	}
	e.clk.Step(2 * time.Minute)
	e.fleet.FailNext(fake.List, errors.New("denied"))
	_, _ = e.as.RunOnce(context.Background())
	if n := e.kinds()[autoscaler.EventFailure]; n != 2 {
		t.Errorf("%d failure alerts, want 2: a mark in the future must not hold the alert back", n)
	}
}

// An alert the Notifier failed to deliver (SNS throttled, say) is not
// marked as sent: the next tick that raises it sends it again, rather than
// holding it back for RealertInterval as if someone had been told.
func TestAlertNotDeliveredIsSentAgainNextTick(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	// failedListing runs a tick whose listing of the fleet is denied and
	// returns the failure alerts delivered so far.
	failedListing := func() int {
		e.fleet.FailNext(fake.List, errors.New("UnauthorizedOperation: not allowed to describe instances"))
		_, _ = e.as.RunOnce(context.Background())
		e.clk.Step(2 * time.Minute)
		return e.kinds()[autoscaler.EventFailure]
	}
	e.notifier.FailNext(fake.Notify, errors.New("Throttling: rate exceeded"))
	for i, want := range []int{0, 1, 1} {
		if n := failedListing(); n != want {
			t.Errorf("tick %d (the first one's notifier failing): %d failure alerts delivered, want %d", i, n, want)
		}
	}
}

// A tick whose final save fails says so once, in one failure message
// that also carries the tick's own failure, and says it again at the next
// tick (its marks were not saved): nothing about the state is held back.
func TestFailedSaveIsSaidOnceEachTick(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	for i := range 2 {
		e.fleet.FailNext(fake.List, errors.New("denied"))
		e.store.FailNext(fake.Save, errors.New("throttled"))
		_, err := e.as.RunOnce(context.Background())
		if err == nil {
			t.Fatalf("tick %d: no error", i)
		}
		var fails []autoscaler.Event
		for _, ev := range e.notifier.Events() {
			if ev.Kind == autoscaler.EventFailure {
				fails = append(fails, ev)
			}
		}
		if len(fails) != i+1 {
			t.Fatalf("tick %d: %d failure messages, want %d", i, len(fails), i+1)
		}
		last := fails[i]
		if !strings.HasPrefix(last.Message, "2 failure events") || !strings.Contains(last.Message, "could not save the state") || !strings.Contains(last.Error, "denied") {
			t.Errorf("tick %d: failure %q (%s), want the save and the listing named", i, last.Message, last.Error)
		}
		e.clk.Step(2 * time.Minute)
	}
}

func awsError(requestID, code string) error {
	return &smithy.OperationError{ServiceID: "EC2", OperationName: "DescribeInstances", Err: &awshttp.ResponseError{
		RequestID: requestID,
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 403}},
			Err:      &smithy.GenericAPIError{Code: code, Message: "You are not authorized to perform this operation."},
		},
	}}
}

func TestRepeatedAWSFailureIsHeldBackDespiteNewRequestIDs(t *testing.T) {
	e := newEnv(t, 3, func(c *autoscaler.Config) { c.RealertInterval = time.Hour })
	e.joinAll(t)
	for i := range 5 {
		e.fleet.FailNext(fake.List, awsError(fmt.Sprintf("8f2c6a1e-0000-4000-8000-00000000000%d", i), "UnauthorizedOperation"))
		_, _ = e.as.RunOnce(context.Background())
		e.clk.Step(2 * time.Minute)
	}
	if n := e.kinds()[autoscaler.EventFailure]; n != 1 {
		t.Errorf("%d failure alerts for 5 ticks of the same AWS error with new request ids, want 1", n)
	}
	e.fleet.FailNext(fake.List, awsError("8f2c6a1e-0000-4000-8000-000000000009", "RequestLimitExceeded"))
	_, _ = e.as.RunOnce(context.Background())
	if n := e.kinds()[autoscaler.EventFailure]; n != 2 {
		t.Errorf("%d failure alerts after a different AWS error, want 2", n)
	}
}

func TestFailureWithTheSameMessageButANewErrorIsSent(t *testing.T) {
	e := newEnv(t, 3, func(c *autoscaler.Config) { c.RealertInterval = time.Hour })
	e.joinAll(t)
	denied := errors.New("UnauthorizedOperation: not allowed to describe instances")
	e.fleet.FailNext(fake.List, denied)
	_, _ = e.as.RunOnce(context.Background())
	e.clk.Step(2 * time.Minute)
	e.fleet.FailNext(fake.List, denied)
	e.nodes.FailNext(fake.ListNodes, errors.New("the server has asked for the client to provide credentials"))
	_, _ = e.as.RunOnce(context.Background())
	if n := e.kinds()[autoscaler.EventFailure]; n != 2 {
		t.Errorf("%d failure alerts, want 2: the second tick failed with another error as well", n)
	}
}

func TestStableTextDropsRequestIDsAndLocalPortsOnly(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{awsError("1111", "UnauthorizedOperation").Error(), awsError("2222", "UnauthorizedOperation").Error()},
		{"read tcp 10.0.1.5:51234->10.0.0.10:6443: read: connection reset by peer", "read tcp 10.0.1.5:40001->10.0.0.10:6443: read: connection reset by peer"},
		{"dial tcp6 [fd00::5]:51234->[fd00::a]:443: i/o timeout", "dial tcp6 [fd00::5]:40001->[fd00::a]:443: i/o timeout"},
	} {
		if autoscaler.Stable(c.a) != autoscaler.Stable(c.b) {
			t.Errorf("Stable(%q) = %q, Stable(%q) = %q: want them equal", c.a, autoscaler.Stable(c.a), c.b, autoscaler.Stable(c.b))
		}
	}
	for _, c := range []struct{ a, b string }{
		{awsError("1111", "UnauthorizedOperation").Error(), awsError("1111", "RequestLimitExceeded").Error()},
		{"read tcp 10.0.1.5:51234->10.0.0.10:6443: read: connection reset by peer", "read tcp 10.0.1.5:51234->10.0.0.11:6443: read: connection reset by peer"},
		{"launched 1 of 3: no capacity", "launched 2 of 3: no capacity"},
	} {
		if autoscaler.Stable(c.a) == autoscaler.Stable(c.b) {
			t.Errorf("Stable(%q) = Stable(%q) = %q: want them apart", c.a, c.b, autoscaler.Stable(c.a))
		}
	}
}

func TestAlertThatFailedToSendIsNotHeldBackAsARepeat(t *testing.T) {
	e := newEnv(t, 3, func(c *autoscaler.Config) { c.RealertInterval = time.Hour })
	e.joinAll(t)
	denied := errors.New("UnauthorizedOperation: not allowed to describe instances")
	e.fleet.FailNext(fake.List, denied)
	e.notifier.FailNext(fake.Notify, errors.New("Throttling: Rate exceeded"))
	_, _ = e.as.RunOnce(context.Background())
	if n := e.kinds()[autoscaler.EventFailure]; n != 0 {
		t.Fatalf("%d failure alerts delivered while the Notifier fails, want 0", n)
	}
	e.clk.Step(2 * time.Minute)
	e.fleet.FailNext(fake.List, denied)
	_, _ = e.as.RunOnce(context.Background())
	if n := e.kinds()[autoscaler.EventFailure]; n != 1 {
		t.Errorf("%d failure alerts delivered once the Notifier works again, want 1: the first was never sent", n)
	}
	e.clk.Step(2 * time.Minute)
	e.fleet.FailNext(fake.List, denied)
	_, _ = e.as.RunOnce(context.Background())
	if n := e.kinds()[autoscaler.EventFailure]; n != 1 {
		t.Errorf("%d failure alerts after a third tick of the same failure, want 1: the second was sent", n)
	}
}
