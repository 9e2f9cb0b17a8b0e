// Package state keeps the autoscaler's lock and state in DynamoDB: Dynamo
// is an autoscaler.Locker and an autoscaler.StateStore for one cluster.
//
// # The table
//
// One item per cluster, under the partition key cluster_id (a string), as
// in the original design. Its attributes:
//
//	cluster_id           S     the cluster id (partition key)
//	lock_owner           S     who holds the lease; absent when free
//	lock_expiry          N     when the lease lapses, epoch seconds (rounded up)
//	fencing_token        N     grows by one with every acquisition; never reset
//	node_count           N     active instances after the last tick
//	scaling_in_progress  BOOL  an operation is recorded
//	operation            S     the operation in progress, JSON; absent when none
//	last_scale_up        S     RFC 3339, absent when never
//	last_scale_down      S     RFC 3339, absent when never
//	history              S     the bounded decision history, JSON, oldest first
//	history_long         S     the history downsampled to means (LongHistory), JSON, oldest first; absent when empty
//	interruptions        S     spot interruption warnings for instances not gone yet, JSON; absent when none
//	outage_since         S     when many nodes went NotReady at once (OutageSince), JSON; absent when no outage
//	launched             S     instances launched in the last few minutes (Launched), JSON; absent when none
//	unplaceable          S     pending pods already alerted as unplaceable, JSON; absent when none
//	alerted              S     the last alert of each kind (Alerted: kind, digest, time), JSON, at most 32; absent when none
//	calendar             S     known events an operator added (Calendar), JSON; absent when none
//	paused               S     an operator's pause (autoscaler.Pause), JSON; absent when not paused
//	last_unlock          S     the last release by an operator (Unlock), JSON
//	state_version        N     the fencing token the state was written under
//	updated_at           S     RFC 3339, when the state was last written
//	x_<name>             S     another part's attribute, JSON (StageJSON), written by Save under its lease;
//	                           x_unavailable_pools: ec2fleet's unavailable pools (config's wiring)
//
// # The history's records
//
// history and history_long hold each autoscaler.Record as a JSON object
// with short keys, missing readings left out: t (time), cpu, mem, pend,
// cus (custom readings), n (Ready nodes), i (instances), a and c (action
// and count), s (safety), h (hold), k (samples), dry and w (a dry run's
// would-be steps), and the forecast: fm (the method, written only where
// it differs from the record before's), f and fh (the forecast and its
// headroom, to a thousandth of a node), fl (the lead time the forecast
// was made for, in seconds, written only where it differs from the
// record before's; 0 where the policy said none) and sd (the Ready
// nodes a forecast-only policy wanted). The first record kept writes
// its method and lead whatever the record before it was. A day of records in forecast-only mode
// fits the default MaxHistoryBytes.
//
// # Locking and fencing
//
// Acquire is one conditional UpdateItem: it succeeds when the item has no
// lock owner, when the caller already owns the lock (a renewal), or when
// lock_expiry has passed (a takeover, reported in Lease.TookOver and
// Lease.PreviousOwner); it increments fencing_token and returns the new
// value as Lease.Token. Release removes the owner and expiry only if the
// caller's owner and token are still the item's. Save writes the state
// attributes only if fencing_token still equals the lease's token, so a
// tick that lost its lease (it ran past its expiry and someone took over)
// cannot overwrite what the newer holder wrote: it gets
// autoscaler.ErrLeaseLost.
//
// Every write of the state is fenced by a lease its caller passes: Save's.
// Other parts' attributes (x_<name>, ec2fleet's unavailable pools) are
// staged with StageJSON and written by the next Save in the same
// conditional write, so they too are written only under an explicit lease;
// the store keeps no lease of its own. What a failed Save left staged is
// dropped by the store's next Acquire: it is never written under a later
// lease, over what another replica may have saved meanwhile.
//
// # Operators
//
// Lock reads who holds the lease and until when; Unlock releases a stuck
// lock on an operator's behalf, refusing while the lease is valid unless
// forced, recording who did it in last_unlock and advancing the fencing
// token so that a holder still running cannot write after it. Update
// changes the state under the lock, as a tick does (the operator
// command's pause and resume).
//
// # Why there is no TTL on lock_expiry
//
// The original design enables DynamoDB Time to Live on lock_expiry. TTL
// deletes the whole item once the attribute's time has passed, and the item
// holds more than the lock: the cluster's state, its decision history and
// the fencing counter. A tick that died holding the lock would, a while
// later, have the cluster's state deleted with it, and with the counter
// gone the next lease would get token 1 again, which breaks fencing. TTL is
// also no lock mechanism (deletion happens up to days after expiry); the
// expiry is enforced exactly by Acquire's condition. So CreateTable does not
// enable TTL, and nothing is lost: a stale lock is taken over by the next
// Acquire whatever its age.
package state
