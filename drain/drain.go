package drain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/kube"
)

// Drain cordons the node (if it is not already), evicts its pods and waits
// until they are gone, all within Config.Timeout and ctx.
//
// Before evicting anything it runs the filter chain over every pod; a pod
// that must not be evicted (see the package documentation), or a node
// annotated as not to be scaled down, fails the drain at once with an error
// wrapping autoscaler.ErrDrainBlocked, and nothing is evicted. Evictions
// refused by a PodDisruptionBudget are retried every Config.RetryInterval;
// when the timeout or ctx's deadline comes first, Drain returns an error
// wrapping autoscaler.ErrDrainBlocked (and ctx's error, if that was it). The
// node stays cordoned on every error: the caller decides whether to
// uncordon it. Once the evicted pods are gone it looks again: a pod bound
// during the drain (one that tolerates the cordon) with node-local data
// there fails it the same way. A node with nothing to evict returns nil
// at once; a node that is gone yields an error wrapping
// autoscaler.ErrNotFound.
func (m *Manager) Drain(ctx context.Context, name string) (err error) {
	defer func() {
		// A request cut short by ctx's deadline is a drain that could not
		// finish in time.
		if err != nil && ctx.Err() != nil && !errors.Is(err, autoscaler.ErrDrainBlocked) {
			err = fmt.Errorf("%w: %w", autoscaler.ErrDrainBlocked, err)
		}
	}()
	deadline := m.cfg.Clock.Now().Add(m.cfg.Timeout)
	node, err := m.cordonForDrain(ctx, name)
	if err != nil {
		return err
	}
	pods, err := m.podsOn(ctx, name)
	if err != nil {
		return fmt.Errorf("drain node %s: list pods: %w", name, err)
	}
	evict, wait, err := m.sortPods(ctx, name, node, pods)
	if err != nil {
		return err
	}
	log := m.cfg.Logger.With("node", name)
	log.InfoContext(ctx, "draining", "evict", len(evict), "terminating", len(wait))
	evicted, err := m.evictAll(ctx, log, name, evict, deadline)
	if err != nil {
		return err
	}
	if err := m.waitGone(ctx, name, append(wait, evicted...), deadline); err != nil {
		return err
	}
	if err := m.newData(ctx, name, node, pods); err != nil {
		return err
	}
	log.InfoContext(ctx, "drained")
	return nil
}

// cordonForDrain returns the node name, cordoned; it refuses a node that
// must not be drained (nodeBlocker).
func (m *Manager) cordonForDrain(ctx context.Context, name string) (*corev1.Node, error) {
	node, err := m.cfg.Client.GetNode(ctx, name)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("drain node %s: %w", name, autoscaler.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("drain node %s: %w", name, err)
	}
	if r := nodeBlocker(node); r != "" {
		return nil, fmt.Errorf("drain node %s: %w: %s", name, autoscaler.ErrDrainBlocked, r)
	}
	if !node.Spec.Unschedulable {
		if err := m.Cordon(ctx, name); err != nil {
			return nil, fmt.Errorf("drain node %s: %w", name, err)
		}
	}
	return node, nil
}

// podsOn lists the pods bound to the node name, in every namespace.
func (m *Manager) podsOn(ctx context.Context, name string) ([]corev1.Pod, error) {
	return kube.All(ctx, pageSize, func(ctx context.Context, o metav1.ListOptions) ([]corev1.Pod, string, error) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", name).String()
		l, err := m.cfg.Client.ListPods(ctx, metav1.NamespaceAll, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	})
}

// sortPods sorts the pods on node (named name) into those to evict and those already
// terminating, to wait for. It returns ErrDrainBlocked, with every reason,
// when a pod must not be evicted or the node holds node-local data.
func (m *Manager) sortPods(ctx context.Context, name string, node *corev1.Node, pods []corev1.Pod) (evict, wait []*corev1.Pod, err error) {
	ds, vols := newDaemonSets(m.cfg.Client), newVolumes(m.cfg.Client)
	var blockers []string
	var here []*corev1.Pod
	for i := range pods {
		if p := &pods[i]; p.Spec.NodeName == name {
			here = append(here, p)
		}
	}
	_, holders, err := localData(ctx, node, here, nil, vols)
	if err != nil {
		return nil, nil, fmt.Errorf("drain node %s: %w", name, err)
	}
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName != name {
			continue // a client that ignored the field selector
		}
		v, err := m.classify(ctx, p, ds, vols)
		if err != nil {
			return nil, nil, fmt.Errorf("drain node %s: %w", name, err)
		}
		if d := holders[p.Namespace+"/"+p.Name]; len(d) > 0 && (v.action == actWait || v.action == actSkip) {
			// Terminating or finished, but its data stays with the node.
			blockers = append(blockers, fmt.Sprintf("pod %s/%s has node-local data (%s)", p.Namespace, p.Name, strings.Join(d, "; ")))
		}
		switch v.action {
		case actEvict:
			evict = append(evict, p)
		case actWait:
			wait = append(wait, p)
		case actBlock:
			blockers = append(blockers, v.reason)
		}
	}
	if d := holders[""]; len(d) > 0 {
		// Claims no live pod uses keep their data here all the same.
		blockers = append(blockers, fmt.Sprintf("node-local data no pod uses now (%s)", strings.Join(d, "; ")))
	}
	if len(blockers) > 0 {
		return nil, nil, fmt.Errorf("drain node %s: %w: %s", name, autoscaler.ErrDrainBlocked, summarize(blockers))
	}
	return evict, wait, nil
}

// evictAll evicts the pods of the node name in rounds until the deadline:
// every pod still waiting for its eviction is tried once per round;
// refusals by a budget wait for the next round. It returns the pods
// evicted or found terminating, to wait for.
func (m *Manager) evictAll(ctx context.Context, log *slog.Logger, name string, evict []*corev1.Pod, deadline time.Time) (wait []*corev1.Pod, err error) {
	for round := 1; len(evict) > 0; round++ {
		done, refused, lastRefusal, err := m.evictRound(ctx, log, name, evict)
		if err != nil {
			return nil, err
		}
		wait = append(wait, done...)
		if len(refused) == 0 {
			break
		}
		log.DebugContext(ctx, "evictions refused, retrying", "round", round, "refused", len(refused), "err", lastRefusal)
		if err := m.pause(ctx, deadline); err != nil {
			return nil, fmt.Errorf("drain node %s: %w: %d pod(s) not evicted (first %s/%s) after %s: %v: %w",
				name, autoscaler.ErrDrainBlocked, len(refused), refused[0].Namespace, refused[0].Name, m.cfg.Timeout, lastRefusal, err)
		}
		evict = refused
	}
	return wait, nil
}

// evictRound tries to evict each pod once. It returns the pods evicted or
// found terminating, those refused for now (with the last refusal), and
// an error for an eviction that fails otherwise.
func (m *Manager) evictRound(ctx context.Context, log *slog.Logger, name string, evict []*corev1.Pod) (done, refused []*corev1.Pod, lastRefusal, err error) {
	for _, p := range evict {
		err := m.evict(ctx, p)
		switch {
		case err == nil:
			log.InfoContext(ctx, "evicted", "pod", p.Namespace+"/"+p.Name)
			done = append(done, p)
		case apierrors.IsNotFound(err):
			// Gone already: nothing to do.
		case apierrors.IsConflict(err):
			// Replaced by a new pod of the same name (the UID
			// precondition failed), or changed while the API
			// server evicted it (the resourceVersion precondition
			// it sets on pods no budget protects, e.g. not Ready
			// ones, while a kubelet writes their status): look.
			st, gerr := m.look(ctx, p)
			switch {
			case gerr != nil:
				return nil, nil, nil, fmt.Errorf("drain node %s: evict pod %s/%s: %w", name, p.Namespace, p.Name, gerr)
			case st == podTerminating:
				done = append(done, p)
			case st == podPresent:
				refused = append(refused, p)
				lastRefusal = err
			}
		case apierrors.IsTooManyRequests(err),
			apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			// A budget allows no disruption now; or the namespace
			// is being deleted and will take the pod with it.
			refused = append(refused, p)
			lastRefusal = err
		default:
			return nil, nil, nil, fmt.Errorf("drain node %s: evict pod %s/%s: %w", name, p.Namespace, p.Name, err)
		}
	}
	return done, refused, lastRefusal, nil
}

// waitGone waits until every evicted or terminating pod of the node name
// is gone, or its deletion time (the end of its grace period) has passed.
func (m *Manager) waitGone(ctx context.Context, name string, wait []*corev1.Pod, deadline time.Time) error {
	for len(wait) > 0 {
		var left []*corev1.Pod
		for _, p := range wait {
			gone, err := m.gone(ctx, p)
			if err != nil {
				return fmt.Errorf("drain node %s: %w", name, err)
			}
			if !gone {
				left = append(left, p)
			}
		}
		if wait = left; len(wait) == 0 {
			break
		}
		if err := m.pauseFor(ctx, deadline, m.cfg.PollInterval); err != nil {
			return fmt.Errorf("drain node %s: %w: %d pod(s) still terminating (first %s/%s) after %s: %w",
				name, autoscaler.ErrDrainBlocked, len(wait), wait[0].Namespace, wait[0].Name, m.cfg.Timeout, err)
		}
	}
	return nil
}

// evict asks the API server to evict p, which checks its
// PodDisruptionBudgets. The UID precondition makes sure that it is this
// pod, not a newer one of the same name, that goes.
func (m *Manager) evict(ctx context.Context, p *corev1.Pod) error {
	del := &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}}
	if m.cfg.GracePeriod > 0 {
		secs := int64(m.cfg.GracePeriod / time.Second)
		del.GracePeriodSeconds = &secs
	}
	ev := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
		DeleteOptions: del,
	}
	return m.cfg.Client.EvictPod(ctx, ev)
}

// podState is what look finds of a pod.
type podState int

const (
	podGone        podState = iota // deleted, or replaced by a pod with another UID
	podTerminating                 // being deleted
	podPresent                     // there, not being deleted
)

// look finds out what became of p.
func (m *Manager) look(ctx context.Context, p *corev1.Pod) (podState, error) {
	cur, err := m.cfg.Client.GetPod(ctx, p.Namespace, p.Name)
	switch {
	case apierrors.IsNotFound(err):
		return podGone, nil
	case err != nil:
		return podPresent, fmt.Errorf("get pod %s/%s: %w", p.Namespace, p.Name, err)
	case cur.UID != p.UID && p.UID != types.UID(""):
		return podGone, nil
	case cur.DeletionTimestamp != nil:
		return podTerminating, nil
	}
	return podPresent, nil
}

// gone reports whether p no longer needs waiting for: it is deleted (or
// replaced by a pod with another UID), or its deletion time has passed.
func (m *Manager) gone(ctx context.Context, p *corev1.Pod) (bool, error) {
	cur, err := m.cfg.Client.GetPod(ctx, p.Namespace, p.Name)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("get pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	if cur.UID != p.UID && p.UID != types.UID("") {
		return true, nil
	}
	if dt := cur.DeletionTimestamp; dt != nil && !m.cfg.Clock.Now().Before(dt.Time) {
		return true, nil
	}
	return false, nil
}

// errTimeout says that Config.Timeout has passed.
var errTimeout = errors.New("drain timeout")

// pause waits RetryInterval, or less if the deadline comes first.
func (m *Manager) pause(ctx context.Context, deadline time.Time) error {
	return m.pauseFor(ctx, deadline, m.cfg.RetryInterval)
}

// pauseFor waits d on the configured clock. It returns errTimeout when the
// deadline has passed (without waiting past it) and ctx's error when ctx
// is done first.
func (m *Manager) pauseFor(ctx context.Context, deadline time.Time, d time.Duration) error {
	left := deadline.Sub(m.cfg.Clock.Now())
	if left <= 0 {
		return errTimeout
	}
	t := m.cfg.Clock.NewTimer(min(d, left))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// newData looks at the node once more after its pods are gone: a pod bound
// to it during the drain (one that tolerates the cordon) that holds
// node-local data there (see localData) fails the drain with an error
// wrapping autoscaler.ErrDrainBlocked. before are the pods listed when
// the drain began; only pods not among them are looked at.
func (m *Manager) newData(ctx context.Context, name string, node *corev1.Node, before []corev1.Pod) error {
	pods, err := m.podsOn(ctx, name)
	if err != nil {
		return fmt.Errorf("drain node %s: list pods: %w", name, err)
	}
	old := make(map[types.UID]bool, len(before))
	for i := range before {
		old[before[i].UID] = true
	}
	var added []*corev1.Pod
	for i := range pods {
		if !old[pods[i].UID] {
			added = append(added, &pods[i])
		}
	}
	if len(added) == 0 {
		return nil
	}
	_, holders, err := localData(ctx, node, added, nil, newVolumes(m.cfg.Client))
	if err != nil {
		return fmt.Errorf("drain node %s: %w", name, err)
	}
	var blockers []string
	for _, p := range added {
		if d := holders[p.Namespace+"/"+p.Name]; len(d) > 0 {
			blockers = append(blockers, fmt.Sprintf("pod %s/%s, bound during the drain, has node-local data (%s)", p.Namespace, p.Name, strings.Join(d, "; ")))
		}
	}
	if len(blockers) > 0 {
		return fmt.Errorf("drain node %s: %w: %s", name, autoscaler.ErrDrainBlocked, summarize(blockers))
	}
	return nil
}
