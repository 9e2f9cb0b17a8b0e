package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"k8s.io/utils/clock"
)

// Store is an in-memory Locker and StateStore with the same semantics as
// the DynamoDB one: leases expire on the clock, every acquisition gets a
// larger fencing token, and Save is refused under a superseded lease.
type Store struct {
	recorder
	clock clock.PassiveClock
	// ShareHistory, when set, makes Load and Save share the history's
	// records instead of deep-copying them: the slice handed out is cut
	// to its length, so a caller's append never writes through, but a
	// caller that edits a record in place edits the stored one. The
	// autoscaler only appends and trims after appending; the simulator
	// sets it (a month of daemon ticks copies the history 190,000 times
	// otherwise).
	ShareHistory bool

	mu      sync.Mutex
	owner   string
	expires time.Time
	token   int64
	state   *autoscaler.ClusterState // a deep copy: callers never share memory with the store
	saves   int
}

// NewStore returns an empty store reading time from clk.
func NewStore(clk clock.PassiveClock) *Store { return &Store{clock: clk} }

// Acquire implements autoscaler.Locker. Method for FailNext: Acquire.
func (s *Store) Acquire(ctx context.Context, owner string, ttl time.Duration) (autoscaler.Lease, error) {
	if err := s.record(Acquire, owner, ttl); err != nil {
		return autoscaler.Lease{}, err
	}
	if err := ctx.Err(); err != nil {
		return autoscaler.Lease{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	held := s.owner != "" && now.Before(s.expires)
	if held && s.owner != owner {
		return autoscaler.Lease{}, fmt.Errorf("fake store: %w (owner %q until %s)", autoscaler.ErrLockHeld, s.owner, s.expires.Format(time.RFC3339))
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

// Release implements autoscaler.Locker. Method for FailNext: Release.
func (s *Store) Release(ctx context.Context, l autoscaler.Lease) error {
	if err := s.record(Release, l.Owner, l.Token); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owner == l.Owner && s.token == l.Token {
		s.owner, s.expires = "", time.Time{}
	}
	return nil
}

// Holder returns the current lock owner ("" when free or expired).
func (s *Store) Holder() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owner == "" || !s.clock.Now().Before(s.expires) {
		return ""
	}
	return s.owner
}

// Load implements autoscaler.StateStore. Method for FailNext: Load.
func (s *Store) Load(ctx context.Context) (autoscaler.ClusterState, error) {
	if err := s.record(Load); err != nil {
		return autoscaler.ClusterState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.decode()
}

func (s *Store) decode() (autoscaler.ClusterState, error) {
	if s.state == nil {
		return autoscaler.ClusterState{}, nil
	}
	return s.clone(*s.state), nil
}

// clone copies a state, so that neither side can change the other's (the
// history's records excepted under ShareHistory).
func (s *Store) clone(st autoscaler.ClusterState) autoscaler.ClusterState {
	if st.Operation != nil {
		op := *st.Operation
		op.Replacing = slices.Clone(op.Replacing)
		st.Operation = &op
	}
	st.Interruptions = slices.Clone(st.Interruptions)
	st.Calendar = slices.Clone(st.Calendar)
	st.Unplaceable = slices.Clone(st.Unplaceable)
	st.Alerted = slices.Clone(st.Alerted)
	st.Launched = slices.Clone(st.Launched)
	if st.Paused != nil {
		p := *st.Paused
		st.Paused = &p
	}
	// The tick updates the last downsampled record in place: always a
	// copy (its records' maps are replaced, not edited, by the tick).
	st.LongHistory = slices.Clone(st.LongHistory)
	if s.ShareHistory {
		st.History = slices.Clip(st.History)
		return st
	}
	for i, r := range st.LongHistory {
		if r.Custom != nil {
			st.LongHistory[i].Custom = maps.Clone(r.Custom)
		}
	}
	st.History = slices.Clone(st.History)
	for i, r := range st.History {
		if r.Custom != nil {
			st.History[i].Custom = maps.Clone(r.Custom)
		}
	}
	return st
}

// Save implements autoscaler.StateStore: refused with ErrLeaseLost when a
// newer lease has been granted. Method for FailNext: Save.
func (s *Store) Save(ctx context.Context, l autoscaler.Lease, st autoscaler.ClusterState) error {
	if err := s.record(Save, l.Token); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.Token != s.token {
		return fmt.Errorf("fake store: token %d, current %d: %w", l.Token, s.token, autoscaler.ErrLeaseLost)
	}
	st.Version = l.Token
	c := s.clone(st)
	s.state = &c
	s.saves++
	return nil
}

// State returns the stored state (a zero state if none was saved).
func (s *Store) State() autoscaler.ClusterState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, _ := s.decode()
	return st
}

// SetState replaces the stored state, as if an earlier tick had saved it.
func (s *Store) SetState(st autoscaler.ClusterState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clone(st)
	s.state = &c
	return nil
}

// Saves returns how many Save calls succeeded.
func (s *Store) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}
