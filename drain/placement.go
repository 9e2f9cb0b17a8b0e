package drain

import (
	"context"
	"slices"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/kube"
)

// placer works out, for each pod a drain would move, where the scheduler
// could put it among the listed nodes (capacity.MovablePod), with the
// scheduler's own rules from k8s.io/component-helpers where it has them:
// required node affinity and nodeSelector (nodeaffinity), taints
// (FindMatchingUntoleratedTaint), its volumes' node affinity and zone;
// and, written here, required pod anti-affinity (the pod's and the
// running pods') and topology spread over zones with DoNotSchedule.
type placer struct {
	nodes  []*corev1.Node
	byNode map[string][]*corev1.Pod
	vols   *volumes
	// anti are the required anti-affinity terms of the running pods,
	// with the node each runs on (for the symmetric rule).
	anti []antiTerm
}

type antiTerm struct {
	owner *corev1.Pod
	node  *corev1.Node
	term  corev1.PodAffinityTerm
}

func newPlacer(nodes []corev1.Node, byNode map[string][]*corev1.Pod, vols *volumes) *placer {
	pl := &placer{byNode: byNode, vols: vols}
	for i := range nodes {
		n := &nodes[i]
		pl.nodes = append(pl.nodes, n)
		for _, q := range byNode[n.Name] {
			if q.DeletionTimestamp != nil || q.Spec.Affinity == nil || q.Spec.Affinity.PodAntiAffinity == nil {
				continue
			}
			for _, t := range q.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				pl.anti = append(pl.anti, antiTerm{owner: q, node: n, term: t})
			}
		}
	}
	return pl
}

// movable returns what the scale-down simulation needs to know of pod p,
// which runs on node from, with requests req.
func (pl *placer) movable(ctx context.Context, p *corev1.Pod, from string, req capacity.Resources) (capacity.MovablePod, error) {
	mp := capacity.MovablePod{Key: p.Namespace + "/" + p.Name, Requests: req, Apart: kube.ApartGroup(p)}
	// Its volumes' node affinity, and the zone they live in.
	var volSelectors []*corev1.NodeSelector
	if claims := claimsOf(p); len(claims) > 0 {
		if err := pl.vols.load(ctx); err != nil {
			return mp, err
		}
		for _, claim := range claims {
			pvc := pl.vols.claims[p.Namespace+"/"+claim]
			if pvc == nil || pvc.Spec.VolumeName == "" {
				continue
			}
			pv := pl.vols.pvs[pvc.Spec.VolumeName]
			if pv == nil || pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
				continue
			}
			volSelectors = append(volSelectors, pv.Spec.NodeAffinity.Required)
			if z := kube.VolumeZone(pv); z != "" {
				mp.Zone = z
			}
		}
	}
	affinity := nodeaffinity.GetRequiredNodeAffinity(p)
	forbidden := pl.forbidden(p)
	allowed := make([]string, 0, len(pl.nodes))
	others := 0
	for _, n := range pl.nodes {
		if n.Name == from {
			continue
		}
		others++
		if ok, err := affinity.Match(n); err != nil || !ok {
			continue
		}
		if _, bad := corev1helpers.FindMatchingUntoleratedTaint(logr.Discard(), n.Spec.Taints, p.Spec.Tolerations, kube.KeepsPodsOff, false); bad {
			continue
		}
		if slices.ContainsFunc(volSelectors, func(s *corev1.NodeSelector) bool {
			ok, err := corev1helpers.MatchNodeSelectorTerms(n, s)
			return err != nil || !ok
		}) {
			continue
		}
		if forbidden(n) {
			continue
		}
		allowed = append(allowed, n.Name)
	}
	if len(allowed) < others {
		mp.Nodes = allowed
	}
	mp.Spread = pl.zoneSpread(p, affinity)
	return mp, nil
}

// forbidden returns whether required pod anti-affinity keeps p off a
// node: a term of p's matches a pod running in the node's topology domain,
// or a running pod's term matches p and p would join its domain. Terms
// with a namespace selector count every namespace (namespaces' labels are
// not read): what cannot be checked is not assumed to allow the move.
func (pl *placer) forbidden(p *corev1.Pod) func(*corev1.Node) bool {
	type domain struct{ key, value string }
	out := map[domain]bool{}
	if a := p.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			for _, n := range pl.nodes {
				v, ok := n.Labels[t.TopologyKey]
				if !ok || out[domain{t.TopologyKey, v}] {
					continue
				}
				if slices.ContainsFunc(pl.byNode[n.Name], func(q *corev1.Pod) bool {
					return q.UID != p.UID && q.DeletionTimestamp == nil && kube.TermSelects(t, p, q)
				}) {
					out[domain{t.TopologyKey, v}] = true
				}
			}
		}
	}
	for _, at := range pl.anti {
		if at.owner.UID == p.UID || !kube.TermSelects(at.term, at.owner, p) {
			continue
		}
		if v, ok := at.node.Labels[at.term.TopologyKey]; ok {
			out[domain{at.term.TopologyKey, v}] = true
		}
	}
	return func(n *corev1.Node) bool {
		for d := range out {
			if n.Labels[d.key] == d.value {
				if _, ok := n.Labels[d.key]; ok {
					return true
				}
			}
		}
		return false
	}
}

// zoneSpread returns p's first topology spread constraint over zones with
// whenUnsatisfiable DoNotSchedule, with the matching pods of its
// namespace counted per zone over the nodes its node affinity admits (the
// constraint's default nodeAffinityPolicy, Honor), or nil.
func (pl *placer) zoneSpread(p *corev1.Pod, affinity nodeaffinity.RequiredNodeAffinity) *capacity.ZoneSpread {
	for _, c := range p.Spec.TopologySpreadConstraints {
		if c.TopologyKey != corev1.LabelTopologyZone || c.WhenUnsatisfiable != corev1.DoNotSchedule || c.LabelSelector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			continue
		}
		for _, k := range c.MatchLabelKeys {
			if v, ok := p.Labels[k]; ok {
				if r, err := labels.NewRequirement(k, selection.Equals, []string{v}); err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		counts := kube.ZoneCounts(p, sel, pl.nodes, pl.byNode)
		return &capacity.ZoneSpread{Group: p.Namespace + "/" + sel.String(), MaxSkew: int(c.MaxSkew), Counts: counts}
	}
	return nil
}
