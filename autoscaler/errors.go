package autoscaler

import "errors"

// Errors that cross the boundary between the autoscaler and its parts.
// Implementations wrap them (fmt.Errorf("...: %w", ErrX)) and callers match
// them with errors.Is.
var (
	// ErrLockHeld: the cluster's lock is held by someone else and has not
	// expired. The tick is skipped; it is not a failure.
	ErrLockHeld = errors.New("lock held by another owner")
	// ErrLeaseLost: the caller's lease is no longer the current one (it
	// expired and was taken over); writes under it are refused.
	ErrLeaseLost = errors.New("lease lost: a newer lease exists")
	// ErrNoData: a metric has no usable value (empty result, NaN, stale,
	// source unreachable). Never to be read as zero.
	ErrNoData = errors.New("no data")
	// ErrInsufficientCapacity: the provider could not launch the requested
	// instances in any zone or market it may use.
	ErrInsufficientCapacity = errors.New("insufficient capacity")
	// ErrNotFound: the named thing (node, instance) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNotManaged: an instance does not carry this cluster's tag, so it
	// was not touched.
	ErrNotManaged = errors.New("instance not managed by this cluster")
	// ErrDrainBlocked: a drain could not evict every pod before its
	// timeout (a PodDisruptionBudget, an unevictable pod).
	ErrDrainBlocked = errors.New("drain blocked")
)
