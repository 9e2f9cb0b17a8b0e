package ec2fleet

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// Pool is an EC2 capacity pool: one instance type in one availability zone
// in one market. In an UnavailablePool an empty InstanceType stands for
// every type and an empty Zone for every zone (a subnet out of addresses
// rules out its whole zone; an account's spot limit the whole market).
type Pool struct {
	// InstanceType is e.g. "m5.large"; empty: every type.
	InstanceType string `json:"instance_type,omitempty"`
	// Zone is the availability zone, e.g. "eu-west-1a"; empty: every
	// zone.
	Zone string `json:"zone,omitempty"`
	// Market is spot or on-demand.
	Market autoscaler.Market `json:"market"`
}

// covers reports whether p, with its wildcards, includes the pool q.
func (p Pool) covers(q Pool) bool {
	return p.Market == q.Market && (p.Zone == "" || p.Zone == q.Zone) && (p.InstanceType == "" || p.InstanceType == q.InstanceType)
}

// UnavailablePool is a pool that refused a launch for capacity, avoided
// until Until.
type UnavailablePool struct {
	Pool
	// Until is when the pool may be tried again.
	Until time.Time `json:"until"`
	// Code is EC2's error code, e.g. "InsufficientInstanceCapacity".
	Code string `json:"code"`
}

// PoolMemory keeps the unavailable pools between launches, and, when it
// is stored with the cluster's state, across processes: a cold start of
// the Lambda function then does not ask an empty pool again. The provider
// calls Load at the start of every launch and Save after a launch that
// learnt of new unavailable pools; both run under the cluster's lock, so
// implementations need not merge concurrent writers. Launch has no lease:
// a memory stored with the cluster's state must not write on its own, but
// hand the pools to the state's next fenced save (config's wiring stages
// them with state.Dynamo.StageJSON, written by StateStore.Save under the
// tick's lease), and Load must return what Save was given even before.
type PoolMemory interface {
	// Load returns the pools last saved; when nothing was ever saved it
	// returns nil and no error. Expired entries may be returned; the
	// provider ignores them.
	Load(ctx context.Context) ([]UnavailablePool, error)
	// Save replaces what is saved with pools (which may be empty). The
	// provider passes only entries that have not expired.
	Save(ctx context.Context, pools []UnavailablePool) error
}

// MemoryPools is a PoolMemory in the process's memory, the default: it
// forgets when the process ends. Its zero value is ready to use, and it is
// safe for concurrent use.
type MemoryPools struct {
	mu    sync.Mutex
	pools []UnavailablePool
}

var _ PoolMemory = (*MemoryPools)(nil)

// Load returns a copy of what was saved.
func (m *MemoryPools) Load(context.Context) ([]UnavailablePool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.pools), nil
}

// Save keeps a copy of pools.
func (m *MemoryPools) Save(_ context.Context, pools []UnavailablePool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pools = slices.Clone(pools)
	return nil
}

// avoided is the set of unavailable pools a launch works with.
type avoided []UnavailablePool

// live returns the entries of a that have not expired at now.
func (a avoided) live(now time.Time) avoided {
	return slices.DeleteFunc(slices.Clone(a), func(u UnavailablePool) bool { return !now.Before(u.Until) })
}

// covers reports whether q is avoided.
func (a avoided) covers(q Pool) bool {
	return slices.ContainsFunc(a, func(u UnavailablePool) bool { return u.covers(q) })
}

// add records u, replacing an entry for the same pool.
func (a avoided) add(u UnavailablePool) avoided {
	a = slices.DeleteFunc(a, func(v UnavailablePool) bool { return v.Pool == u.Pool })
	return append(a, u)
}

// earliest returns when the first entry expires (zero when none).
func (a avoided) earliest() time.Time {
	var t time.Time
	for _, u := range a {
		if t.IsZero() || u.Until.Before(t) {
			t = u.Until
		}
	}
	return t
}
