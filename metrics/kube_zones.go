package metrics

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

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

// world is what View read of the cluster, for placing a pending pod on a
// new worker: the nodes, the live pods on each, and the claims and
// volumes (read only when a pending pod has a claim).
type world struct {
	nodes  []*corev1.Node
	byNode map[string][]*corev1.Pod
	claims map[string]*corev1.PersistentVolumeClaim // by namespace/name
	pvs    map[string]*corev1.PersistentVolume      // by name
}

// loadVolumes lists the claims and volumes.
func (k *KubeScheduler) loadVolumes(ctx context.Context, w *world) error {
	c := k.cfg.Client
	claims, err := kube.All(ctx, k.cfg.PageSize, func(ctx context.Context, o metav1.ListOptions) ([]corev1.PersistentVolumeClaim, string, error) {
		l, err := c.ListPersistentVolumeClaims(ctx, k.cfg.Namespace, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	})
	if err != nil {
		return fmt.Errorf("list persistent volume claims: %w", err)
	}
	pvs, err := kube.All(ctx, k.cfg.PageSize, func(ctx context.Context, o metav1.ListOptions) ([]corev1.PersistentVolume, string, error) {
		l, err := c.ListPersistentVolumes(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	})
	if err != nil {
		return fmt.Errorf("list persistent volumes: %w", err)
	}
	w.claims = make(map[string]*corev1.PersistentVolumeClaim, len(claims))
	for i := range claims {
		w.claims[claims[i].Namespace+"/"+claims[i].Name] = &claims[i]
	}
	w.pvs = make(map[string]*corev1.PersistentVolume, len(pvs))
	for i := range pvs {
		w.pvs[pvs[i].Name] = &pvs[i]
	}
	return nil
}

// hasClaims reports whether the pod uses a PersistentVolumeClaim (named,
// or made for a generic ephemeral volume).
func hasClaims(p *corev1.Pod) bool {
	return slices.ContainsFunc(p.Spec.Volumes, func(v corev1.Volume) bool { return v.PersistentVolumeClaim != nil || v.Ephemeral != nil })
}

// newWorker is a Node as a new worker of the template would register in
// zone (none when ""): its labels and taints, no name.
func newWorker(tpl capacity.WorkerTemplate, zone string) *corev1.Node {
	l := maps.Clone(tpl.Labels)
	if l == nil {
		l = map[string]string{}
	}
	if zone != "" {
		l[corev1.LabelTopologyZone] = zone
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: l}}
	for _, t := range tpl.Taints {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	return n
}

// zonesFor returns the zones, of those new workers may be launched in,
// where a new worker would let pending pod p run, or why there are none
// ("cannot run on a new t3.medium worker: ..."). The rules: its
// nodeSelector, required node affinity and tolerations against the
// worker's labels (the zone's included) and taints (wontLand); the node
// affinity of the PersistentVolumes its claims are bound to (a volume
// pinned to one node has no new worker; a zonal one names its zone);
// required pod affinity and anti-affinity on the zone against the pods
// running there (and the running pods' anti-affinity against p), and on
// the hostname (affinity to a running pod cannot be met by an empty
// worker); and a topology spread over zones with DoNotSchedule, counted
// over the nodes its node affinity admits, a new worker's zone counted
// as a domain. zones empty means zones are not known: the worker then
// carries no zone label. The answer is nil when every zone will do.
func zonesFor(p *corev1.Pod, tpl capacity.WorkerTemplate, zones []string, w *world) ([]string, string) {
	cannot := "cannot run on a new " + tpl.InstanceType + " worker: "
	known := len(zones) > 0
	steps := []func([]string) ([]string, string){
		func([]string) ([]string, string) { return landingZones(p, tpl, zones) },
		func(ok []string) ([]string, string) { return w.volumeZones(p, tpl, zones, ok) },
		func(ok []string) ([]string, string) { return w.affinityZones(p, zones, ok) },
		func(ok []string) ([]string, string) { return w.spreadZones(p, zones, ok) },
	}
	var ok []string
	for _, step := range steps {
		var why string
		if ok, why = step(ok); why != "" {
			return nil, cannot + why
		}
	}
	if known && len(ok) == len(zones) {
		return nil, ""
	}
	if len(ok) == 1 && ok[0] == "" {
		return nil, ""
	}
	return ok, ""
}

// landingZones returns the zones (of zones; "" alone when none are known)
// where a new worker's labels and taints let p land, or why there are
// none: its nodeSelector, required node affinity and tolerations.
func landingZones(p *corev1.Pod, tpl capacity.WorkerTemplate, zones []string) ([]string, string) {
	cands := zones
	if len(zones) == 0 {
		cands = []string{""}
	}
	var ok []string
	first := ""
	for _, z := range cands {
		n := newWorker(tpl, z)
		if landsOn(&p.Spec, n) {
			ok = append(ok, z)
			continue
		}
		if first == "" {
			// The scheduler's rule decides; wontLand says why.
			if first = wontLand(&p.Spec, n.Labels, tpl.Taints); first == "" {
				first = "its nodeSelector, required node affinity or tolerations match no new worker"
			}
		}
	}
	if len(ok) == 0 {
		return nil, first
	}
	return ok, ""
}

// volumeZones keeps of ok the zones where a new worker meets the node
// affinity of every PersistentVolume p's claims are bound to (a volume
// pinned to one node has no new worker; a zonal one names its zone), or
// says why none is left.
func (w *world) volumeZones(p *corev1.Pod, tpl capacity.WorkerTemplate, zones, ok []string) ([]string, string) {
	known := len(zones) > 0
	for _, v := range p.Spec.Volumes {
		claim := ""
		switch {
		case v.PersistentVolumeClaim != nil:
			claim = v.PersistentVolumeClaim.ClaimName
		case v.Ephemeral != nil:
			claim = p.Name + "-" + v.Name
		default:
			continue
		}
		pvc := w.claims[p.Namespace+"/"+claim]
		if pvc == nil || pvc.Spec.VolumeName == "" {
			continue // bound where the pod lands (WaitForFirstConsumer)
		}
		pv := w.pvs[pvc.Spec.VolumeName]
		if pv == nil || pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
			continue
		}
		if z := kube.VolumeZone(pv); z != "" && !known && len(ok) == 1 && ok[0] == "" {
			// Zones not known: the volume's is where it can go.
			ok = []string{z}
		}
		ok = slices.DeleteFunc(ok, func(z string) bool {
			m, err := corev1helpers.MatchNodeSelectorTerms(newWorker(tpl, z), pv.Spec.NodeAffinity.Required)
			return err != nil || !m
		})
		if len(ok) == 0 {
			if slices.ContainsFunc(pv.Spec.NodeAffinity.Required.NodeSelectorTerms, func(t corev1.NodeSelectorTerm) bool {
				return slices.ContainsFunc(t.MatchExpressions, func(e corev1.NodeSelectorRequirement) bool { return e.Key == corev1.LabelHostname })
			}) {
				return nil, fmt.Sprintf("its claim %s is bound to PersistentVolume %s, pinned to one node", claim, pv.Name)
			}
			return nil, fmt.Sprintf("its claim %s is bound to PersistentVolume %s, whose node affinity no new worker in %s meets", claim, pv.Name, describeZones(zones))
		}
	}
	return ok, ""
}

// affinityZones keeps of ok the zones p's required pod affinity and
// anti-affinity allow: affinity on the zone against the pods running
// there (on the hostname it cannot be met by an empty worker, unless p is
// the first of its kind), anti-affinity on the zone, and the running
// pods' anti-affinity on the zone against p.
func (w *world) affinityZones(p *corev1.Pod, zones, ok []string) ([]string, string) {
	if a := p.Spec.Affinity; a != nil && a.PodAffinity != nil {
		for _, t := range a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			where := w.domains(t, p)
			self := kube.TermSelects(t, p, p)
			switch {
			case len(where) == 0 && self:
				// The first of its kind may go anywhere.
			case t.TopologyKey == corev1.LabelTopologyZone:
				ok = slices.DeleteFunc(ok, func(z string) bool { return !where[z] })
			default:
				return nil, fmt.Sprintf("its required pod affinity on %s needs a pod that a new worker does not run", t.TopologyKey)
			}
		}
	}
	if a := p.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if t.TopologyKey != corev1.LabelTopologyZone {
				continue // an empty new worker holds no pod to keep away from
			}
			where := w.domains(t, p)
			ok = slices.DeleteFunc(ok, func(z string) bool { return where[z] })
		}
	}
	for _, n := range w.nodes {
		z, has := n.Labels[corev1.LabelTopologyZone]
		if !has {
			continue
		}
		for _, q := range w.byNode[n.Name] {
			if q.DeletionTimestamp != nil || q.Spec.Affinity == nil || q.Spec.Affinity.PodAntiAffinity == nil {
				continue
			}
			for _, t := range q.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				if t.TopologyKey == corev1.LabelTopologyZone && kube.TermSelects(t, q, p) {
					ok = slices.DeleteFunc(ok, func(x string) bool { return x == z })
				}
			}
		}
	}
	if len(ok) == 0 {
		return nil, "its required pod affinity or anti-affinity on zones excludes every zone (" + describeZones(zones) + ")"
	}
	return ok, ""
}

// spreadZones keeps of ok the zones p's topology spread constraints over
// zones with DoNotSchedule allow. The domains are the zones of today's
// eligible nodes and the new worker's own zone, as kube-scheduler counts
// them once that worker has joined: a zone of the subnets with no node
// yet is no domain (and no minimum) for a worker elsewhere.
func (w *world) spreadZones(p *corev1.Pod, zones, ok []string) ([]string, string) {
	for _, c := range p.Spec.TopologySpreadConstraints {
		if c.TopologyKey != corev1.LabelTopologyZone || c.WhenUnsatisfiable != corev1.DoNotSchedule || c.LabelSelector == nil {
			continue
		}
		sel := spreadSelector(p, c)
		counts := kube.ZoneCounts(p, sel, w.nodes, w.byNode)
		// The pod counts in its new zone only when the constraint
		// selects it (kube-scheduler's selfMatchNum).
		self := 0
		if sel.Matches(labels.Set(p.Labels)) {
			self = 1
		}
		ok = slices.DeleteFunc(ok, func(z string) bool {
			if z == "" {
				return true
			}
			least := counts[z]
			for _, v := range counts {
				least = min(least, v)
			}
			return counts[z]+self-least > int(max(c.MaxSkew, 1))
		})
		if len(ok) == 0 {
			return nil, fmt.Sprintf("its topology spread over zones (maxSkew %d) allows no zone a new worker may be launched in (%s)", c.MaxSkew, describeZones(zones))
		}
	}
	return ok, ""
}

func describeZones(zones []string) string {
	if len(zones) == 0 {
		return "zones not known"
	}
	return strings.Join(zones, ", ")
}

// domains returns the zones (or other topology values of the term's key)
// of the nodes that run a pod the term of owner selects.
func (w *world) domains(t corev1.PodAffinityTerm, owner *corev1.Pod) map[string]bool {
	out := map[string]bool{}
	for _, n := range w.nodes {
		v, has := n.Labels[t.TopologyKey]
		if !has {
			continue
		}
		if slices.ContainsFunc(w.byNode[n.Name], func(q *corev1.Pod) bool {
			return q.UID != owner.UID && q.DeletionTimestamp == nil && kube.TermSelects(t, owner, q)
		}) {
			out[v] = true
		}
	}
	return out
}

// spreadSelector is the constraint's label selector with its
// MatchLabelKeys' values from p added (nothing matches a selector that
// does not parse).
func spreadSelector(p *corev1.Pod, c corev1.TopologySpreadConstraint) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
	if err != nil {
		return labels.Nothing()
	}
	for _, key := range c.MatchLabelKeys {
		if v, ok := p.Labels[key]; ok {
			if r, err := labels.NewRequirement(key, selection.Equals, []string{v}); err == nil {
				sel = sel.Add(*r)
			}
		}
	}
	return sel
}

// landsOn reports whether a pod with this spec may run on node n as far
// as its labels and taints go: its nodeSelector and required node
// affinity (k8s.io/component-helpers' nodeaffinity, as the scheduler's
// NodeAffinity filter) and the NoSchedule and NoExecute taints it does
// not tolerate (FindMatchingUntoleratedTaint, as TaintToleration).
func landsOn(spec *corev1.PodSpec, n *corev1.Node) bool {
	if m, err := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: *spec}).Match(n); err != nil || !m {
		return false
	}
	_, bad := corev1helpers.FindMatchingUntoleratedTaint(logr.Discard(), n.Spec.Taints, spec.Tolerations, kube.KeepsPodsOff, false)
	return !bad
}
