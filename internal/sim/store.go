package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"k8s.io/utils/clock"
)

// store is the simulator's Locker and StateStore: the semantics of
// fake.Store (expiring leases, growing fencing tokens, fenced saves)
// without its deep copy of the state on every Load and Save. That copy
// made a month in daemon mode (190,000 ticks, each loading and saving the
// whole history with a map per record) take minutes. Sharing is safe here
// because Load hands out the history with its capacity cut to its length:
// the tick's append then moves it to a new array before the core trims it
// in place, so the stored copy is never written to.
type store struct {
	clock   clock.PassiveClock
	owner   string
	expires time.Time
	token   int64
	state   autoscaler.ClusterState
}

// Acquire implements autoscaler.Locker as fake.Store does.
func (s *store) Acquire(ctx context.Context, owner string, ttl time.Duration) (autoscaler.Lease, error) {
	now := s.clock.Now()
	held := s.owner != "" && now.Before(s.expires)
	if held && s.owner != owner {
		return autoscaler.Lease{}, fmt.Errorf("sim store: %w (owner %q)", autoscaler.ErrLockHeld, s.owner)
	}
	l := autoscaler.Lease{Owner: owner, Expires: now.Add(ttl)}
	if s.owner != "" && !held && s.owner != owner {
		l.TookOver, l.PreviousOwner = true, s.owner
	}
	s.token++
	l.Token = s.token
	s.owner, s.expires = owner, l.Expires
	return l, nil
}

// Release implements autoscaler.Locker; a lease no longer held is a no-op.
func (s *store) Release(ctx context.Context, l autoscaler.Lease) error {
	if s.owner == l.Owner && s.token == l.Token {
		s.owner, s.expires = "", time.Time{}
	}
	return nil
}

// Load implements autoscaler.StateStore; the history is shared, not copied.
func (s *store) Load(ctx context.Context) (autoscaler.ClusterState, error) {
	st := s.state
	st.History = st.History[:len(st.History):len(st.History)]
	if st.Operation != nil {
		op := *st.Operation
		st.Operation = &op
	}
	return st, nil
}

// Save implements autoscaler.StateStore, fenced by the lease token.
func (s *store) Save(ctx context.Context, l autoscaler.Lease, st autoscaler.ClusterState) error {
	if l.Token != s.token {
		return fmt.Errorf("sim store: token %d, current %d: %w", l.Token, s.token, autoscaler.ErrLeaseLost)
	}
	st.Version = l.Token
	if st.Operation != nil {
		op := *st.Operation
		st.Operation = &op
	}
	s.state = st
	return nil
}
