package interruption

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// evacuate cordons and drains, at once and without the lock, the node of
// instanceID, an instance that the Fleet confirmed (by its tags, one
// describe by id) to be the fleet's and that has a spot interruption
// warning.
//
// Why without the lock: the warning comes two minutes before EC2 reclaims
// the instance, and Handler (autoscaler.HandleInterruption) waits for the
// lock, which a tick holds for as long as it drains another node (up to
// DRAIN_TIMEOUT, minutes): the pods would still be on the node when it
// goes. Why it is safe: the instance is reclaimed whatever anyone does, so
// cordoning and draining its node destroys nothing that the reclaim would
// not; the drain is the NodeManager's, which evicts through the eviction
// API with PodDisruptionBudgets, never forces, and refuses pods it must
// not evict. What it never does: touch an instance that is not the
// fleet's (the caller only calls it for a confirmed one; the K3s server
// lacks the managed-by tag), a node that does not name the instance (its
// instance-id label or AWS providerID: never a match by a reused private
// IP), or drain a node that holds node-local data or that an operator
// annotated scale-down-disabled: that node is cordoned and an alert sent
// (EventInterrupted), and its pods are left to the tick's own rules.
//
// Handler runs beside it and, once it has the lock, records the warning
// in the state, launches the replacement and evacuates the node by the
// planner's rules; by then the node is cordoned and mostly drained, and
// the drain (which waits for pods already terminating instead of evicting
// them again) has little or nothing left. Any failure here is logged
// and left to that tick.
func (q *Queue) evacuate(ctx context.Context, log *slog.Logger, instanceID string) {
	nodes, err := q.cfg.Nodes.ListNodes(ctx)
	if err != nil {
		log.WarnContext(ctx, "could not list the nodes to evacuate an interrupted instance's at once; the tick will", "err", err)
		return
	}
	byInstance, _ := autoscaler.MatchNodes([]autoscaler.Instance{{ID: instanceID}}, nodes)
	node, ok := byInstance[instanceID]
	if !ok {
		log.InfoContext(ctx, "no node names the interrupted instance; nothing to evacuate")
		return
	}
	log = log.With("node", node.Name)
	if err := q.cfg.Nodes.Cordon(ctx, node.Name); err != nil {
		log.WarnContext(ctx, "could not cordon the interrupted instance's node; the tick will", "err", err)
		return
	}
	if why := keep(instanceID, nodes); why != "" {
		msg := fmt.Sprintf("spot instance %s will be reclaimed: its node %s is cordoned but not drained ahead of the tick because %s; the tick drains it by its own rules, and the data goes with the instance",
			instanceID, node.Name, why)
		log.WarnContext(ctx, msg)
		q.notify(ctx, autoscaler.Event{Kind: autoscaler.EventInterrupted, Instances: []string{instanceID}, Message: msg})
		return
	}
	log.InfoContext(ctx, "draining the interrupted instance's node at once, without waiting for the lock")
	switch err := q.cfg.Nodes.Drain(ctx, node.Name); {
	case err == nil:
		log.InfoContext(ctx, "interrupted instance's node drained")
	case errors.Is(err, autoscaler.ErrNotFound):
		log.InfoContext(ctx, "interrupted instance's node is gone")
	default:
		log.WarnContext(ctx, "could not drain the interrupted instance's node at once; the tick will try again", "err", err)
	}
}

// keep says why the node of instanceID must not be drained blindly: the
// node-local data or the scale-down-disabled annotation of any node that
// names the instance (an agent registered again under a new name leaves
// its old Node, and the data pinned to that name, on the same disk).
func keep(instanceID string, nodes []autoscaler.Node) string {
	var data []string
	disabled := false
	for _, n := range nodes {
		if n.InstanceID != instanceID && !strings.HasSuffix(n.ProviderID, "/"+instanceID) {
			continue
		}
		data = append(data, n.LocalData...)
		disabled = disabled || n.ScaleDownDisabled
	}
	var why []string
	if len(data) > 0 {
		slices.Sort(data)
		why = append(why, "it holds node-local data ("+strings.Join(slices.Compact(data), ", ")+")")
	}
	if disabled {
		why = append(why, "it is annotated scale-down-disabled")
	}
	return strings.Join(why, " and ")
}

// notify sends ev through the Notifier, if any, stamped with the time and
// the cluster; a failure is logged.
func (q *Queue) notify(ctx context.Context, ev autoscaler.Event) {
	if q.cfg.Notifier == nil {
		return
	}
	ev.Time, ev.ClusterID = q.cfg.Clock.Now(), q.cfg.ClusterID
	if err := q.cfg.Notifier.Notify(ctx, ev); err != nil {
		q.cfg.Logger.WarnContext(ctx, "could not send an alert", "kind", ev.Kind, "err", err)
	}
}
