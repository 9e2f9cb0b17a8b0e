package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/state"
)

// lockTTL is the lease pause and resume take: their change is one read
// and one write.
const lockTTL = time.Minute

// errAlready marks a pause of a paused cluster.
var errAlready = errors.New("already paused")

func pauseFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	reason := fs.String("reason", "", "why the cluster is paused, shown in every held tick's reason (required)")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for a tick that holds the lock")
	force := fs.Bool("force", false, "pause a cluster the table holds nothing for (one that has never ticked yet)")
	return func(ctx context.Context, e *env) error {
		if *reason == "" {
			return fmt.Errorf("-reason is required: say why, it is shown in every held tick: %w", errUsage)
		}
		if err := e.known(ctx, "pause", *force); err != nil {
			return err
		}
		p := autoscaler.Pause{By: e.by, At: e.now().UTC().Truncate(time.Second), Reason: *reason}
		err := e.update(ctx, *wait, func(st *autoscaler.ClusterState) error {
			if st.Paused != nil {
				return fmt.Errorf("cluster %s is %s; resume it first to pause it again: %w", e.cluster, st.Paused, errAlready)
			}
			st.Paused = &p
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "cluster %s %s\nticks now hold every new action (scale-up, scale-down, floor, ceiling, repair, spot replacement); an operation in flight is still finished\n", e.cluster, p)
		return nil
	}
}

func resumeFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for a tick that holds the lock")
	force := fs.Bool("force", false, "resume a cluster the table holds nothing for (one that has never ticked yet)")
	return func(ctx context.Context, e *env) error {
		if err := e.known(ctx, "resume", *force); err != nil {
			return err
		}
		var was *autoscaler.Pause
		err := e.update(ctx, *wait, func(st *autoscaler.ClusterState) error {
			was, st.Paused = st.Paused, nil
			return nil
		})
		if err != nil {
			return err
		}
		if was == nil {
			fmt.Fprintf(e.stdout, "cluster %s was not paused; nothing changed\n", e.cluster)
			return nil
		}
		fmt.Fprintf(e.stdout, "cluster %s resumed by %s (it was %s)\n", e.cluster, e.by, was)
		return nil
	}
}

// errUnknownCluster marks a pause or resume of a cluster the table holds
// nothing for.
var errUnknownCluster = errors.New("unknown cluster")

// known refuses, unless force, to change the state of a cluster the table
// holds nothing for: it has never ticked, or -cluster is mistyped, and a
// pause written there would say "paused" while the real cluster goes on.
func (e *env) known(ctx context.Context, verb string, force bool) error {
	if force {
		return nil
	}
	st, err := e.store.Load(ctx)
	if err != nil {
		return err
	}
	if st.Version == 0 && len(st.History) == 0 && st.Paused == nil {
		return fmt.Errorf("the table %s holds nothing for cluster %s: it has never ticked, or -cluster (CLUSTER_ID) is wrong; nothing changed (-force to %s it anyway): %w", e.table, e.cluster, verb, errUnknownCluster)
	}
	return nil
}

// update changes the state under the lock, retrying every 2 seconds
// while a tick holds it, for up to wait.
func (e *env) update(ctx context.Context, wait time.Duration, change func(*autoscaler.ClusterState) error) error {
	owner := "nodefleet:" + e.by
	deadline := e.now().Add(wait)
	for {
		err := e.store.Update(ctx, owner, lockTTL, change)
		if !errors.Is(err, autoscaler.ErrLockHeld) {
			return err
		}
		if !e.now().Before(deadline) {
			return fmt.Errorf("the lock stayed held for -wait %s (a tick running, or a stuck lock: see status and unlock): %w", wait, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func unlockFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	force := fs.Bool("force", false, "release the lock even though its lease is still valid (a tick may be running: its next state write will be refused)")
	return func(ctx context.Context, e *env) error {
		u, err := e.store.Unlock(ctx, e.by, *force)
		switch {
		case errors.Is(err, state.ErrNotLocked):
			fmt.Fprintf(e.stdout, "the lock of cluster %s is not held; nothing to release\n", e.cluster)
			return nil
		case errors.Is(err, autoscaler.ErrLockHeld):
			return fmt.Errorf("%w; a tick may be running: wait for the lease to end, or use -force", err)
		case err != nil:
			return err
		}
		how := "expired"
		if u.Forced {
			how = "still valid, forced"
		}
		fmt.Fprintf(e.stdout, "released the lock of cluster %s: %s's lease, token %d, until %s (%s); recorded as released by %s\n",
			e.cluster, u.Owner, u.Token, u.Expires.Format(time.RFC3339), how, u.By)
		return nil
	}
}
