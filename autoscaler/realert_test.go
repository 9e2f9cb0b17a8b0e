package autoscaler_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
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
