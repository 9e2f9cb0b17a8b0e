package kube

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// ApartGroup returns the group of pods that p keeps apart from on one
// node (capacity.PendingPod.Apart and MovablePod.Apart), or "": its
// first required pod anti-affinity term with topology key
// kubernetes.io/hostname whose label selector matches p's own labels, in
// p's namespace (the term's namespaces, when it names any, must include
// it; a term with a namespace selector that is not empty is left alone,
// as the namespaces' labels are not read). The group is the namespace and
// the selector, the same for every replica.
func ApartGroup(p *corev1.Pod) string {
	a := p.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return ""
	}
	for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		if term.TopologyKey != corev1.LabelHostname || term.LabelSelector == nil {
			continue
		}
		if ns := term.NamespaceSelector; ns != nil && (len(ns.MatchLabels) > 0 || len(ns.MatchExpressions) > 0) {
			continue
		}
		if len(term.Namespaces) > 0 && term.NamespaceSelector == nil && !slices.Contains(term.Namespaces, p.Namespace) {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		return p.Namespace + "/" + sel.String()
	}
	return ""
}

// ZoneLabels are the node labels that name an availability zone, the
// standard one first: a PersistentVolume's node affinity on any of them
// binds it to a zone.
var ZoneLabels = []string{corev1.LabelTopologyZone, corev1.LabelFailureDomainBetaZone, "topology.ebs.csi.aws.com/zone"}

// ClaimName returns the name of the PersistentVolumeClaim the pod's
// volume vol uses: the one it names, or for a generic ephemeral volume the
// one the ephemeral volume controller creates, <pod>-<volume>; "" for a
// volume of another kind.
func ClaimName(p *corev1.Pod, vol corev1.Volume) string {
	switch {
	case vol.PersistentVolumeClaim != nil:
		return vol.PersistentVolumeClaim.ClaimName
	case vol.Ephemeral != nil:
		return p.Name + "-" + vol.Name
	}
	return ""
}

// VolumeZone returns the one availability zone a PersistentVolume's
// required node affinity binds it to (a term on a zone label with operator
// In and one value, in every term), or "" when it is bound to no single
// zone.
func VolumeZone(pv *corev1.PersistentVolume) string {
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil || len(na.Required.NodeSelectorTerms) == 0 {
		return ""
	}
	zone := ""
	for _, t := range na.Required.NodeSelectorTerms {
		z := ""
		for _, e := range t.MatchExpressions {
			if slices.Contains(ZoneLabels, e.Key) && e.Operator == corev1.NodeSelectorOpIn && len(e.Values) == 1 {
				z = e.Values[0]
			}
		}
		if z == "" || (zone != "" && z != zone) {
			return ""
		}
		zone = z
	}
	return zone
}

// TermSelects reports whether the pod (anti-)affinity term t of owner
// selects pod q, as the scheduler's InterPodAffinity does: q is in the
// term's namespaces (owner's own when it names none; every namespace when
// it has a namespace selector, whose namespaces' labels are not read, so
// the answer errs towards "selects") and its labels match the term's
// label selector. A term without a label selector selects nothing.
func TermSelects(t corev1.PodAffinityTerm, owner, q *corev1.Pod) bool {
	if t.LabelSelector == nil {
		return false
	}
	if t.NamespaceSelector == nil {
		ns := t.Namespaces
		if len(ns) == 0 {
			ns = []string{owner.Namespace}
		}
		if !slices.Contains(ns, q.Namespace) {
			return false
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	return err == nil && sel.Matches(labels.Set(q.Labels))
}

// KeepsPodsOff selects the taints that keep pods off a node, as the
// scheduler's TaintToleration filter does: NoSchedule and NoExecute
// (PreferNoSchedule only scores). A filter for component-helpers'
// FindMatchingUntoleratedTaint.
func KeepsPodsOff(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
}

// ZoneCounts counts, per zone (topology.kubernetes.io/zone), the pods in
// p's namespace that sel selects and that are not being deleted, on the
// nodes with a zone that p's required node affinity admits (the
// scheduler's PodTopologySpread with nodeAffinityPolicy Honor, the
// default); byNode holds each node's pods. Every such zone is present,
// with 0 when it runs none: those are the spread's domains.
func ZoneCounts(p *corev1.Pod, sel labels.Selector, nodes []*corev1.Node, byNode map[string][]*corev1.Pod) map[string]int {
	affinity := nodeaffinity.GetRequiredNodeAffinity(p)
	counts := map[string]int{}
	for _, n := range nodes {
		z, ok := n.Labels[corev1.LabelTopologyZone]
		if !ok {
			continue
		}
		if m, err := affinity.Match(n); err != nil || !m {
			continue
		}
		counts[z] += 0
		for _, q := range byNode[n.Name] {
			if q.Namespace == p.Namespace && q.DeletionTimestamp == nil && sel.Matches(labels.Set(q.Labels)) {
				counts[z]++
			}
		}
	}
	return counts
}
