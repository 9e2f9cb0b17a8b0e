package drain

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/kube"
)

// zoneOf returns the node's availability zone: its
// topology.kubernetes.io/zone label, else the deprecated
// failure-domain.beta.kubernetes.io/zone, else "".
func zoneOf(n *corev1.Node) string {
	if z := n.Labels[corev1.LabelTopologyZone]; z != "" {
		return z
	}
	return n.Labels[corev1.LabelFailureDomainBetaZone]
}

// claimsOf returns the names of the PersistentVolumeClaims the pod uses
// (named ones, and those created for its generic ephemeral volumes), by
// volume name.
func claimsOf(p *corev1.Pod) map[string]string {
	var out map[string]string
	for _, vol := range p.Spec.Volumes {
		claim := kube.ClaimName(p, vol)
		if claim == "" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[vol.Name] = claim
	}
	return out
}

// infrastructure reports whether the pod is there because of its node (a
// mirror pod, or a DaemonSet's pod): its hostPath volumes are the node's
// own plumbing (logs, sockets), not data that a workload keeps.
func infrastructure(p *corev1.Pod) bool {
	if _, mirror := p.Annotations[AnnotationMirrorPod]; mirror {
		return true
	}
	for _, o := range p.OwnerReferences {
		if o.Controller != nil && *o.Controller && o.Kind == "DaemonSet" {
			return true
		}
	}
	return false
}

// safeToLose reports whether the pod's owner said its local data may be
// lost: the pod is annotated safe-to-evict "true" (and not "false"
// under the other key), or names the volume in
// safe-to-evict-local-volumes.
func safeToLose(p *corev1.Pod, volume string) bool {
	if safeVolume(p, volume) {
		return true
	}
	safe := false
	for _, k := range []string{autoscaler.AnnotationSafeToEvict, CAAnnotationSafeToEvict} {
		switch v := p.Annotations[k]; {
		case strings.EqualFold(v, "false"):
			return false
		case strings.EqualFold(v, "true"):
			safe = true
		}
	}
	return safe
}

// localData returns the node-local data on node n, one entry each, and
// the entries of each pod (namespace/name) they belong to: every PersistentVolume pinned
// to n by its required node affinity on the hostname (local-path's, local
// PVs) that is bound to a claim a live pod uses, wherever that pod is;
// every claim of a pod on n bound to a PersistentVolume whose data lives
// on one node (see nodeLocal); and every hostPath volume of a pod on n.
// The state of the pods does not matter (a Terminating pod's volume is
// still there), except that pods of DaemonSets and mirror pods are the
// node's plumbing, and volumes their pod's owner declared safe to lose
// (safeToLose) do not count; and the volumes pinned to n no live pod
// uses (see unused), owned by "". A pod that has finished (Succeeded or
// Failed) still owns its hostPath data, which stays on the disk until
// someone removes it; its claims are no longer its own (a volume pinned
// to n that they name counts as data no live pod uses). onNode are the
// pods bound to n, finished ones included, unbound the live pods bound to
// no node yet.
func localData(ctx context.Context, n *corev1.Node, onNode, unbound []*corev1.Pod, vols *volumes) ([]string, map[string][]string, error) {
	var out []string
	owners := map[string][]string{}
	seen := map[string]bool{} // PersistentVolumes already named
	var declared []string     // PersistentVolumes their pod declared safe to lose
	add := func(pod, entry string) {
		out = append(out, entry)
		owners[pod] = append(owners[pod], entry)
	}
	for _, p := range onNode {
		// A finished pod's hostPath data is still on the disk: the
		// phase says nothing about the directory.
		if infrastructure(p) {
			continue
		}
		who := p.Namespace + "/" + p.Name
		for _, vol := range p.Spec.Volumes {
			if vol.HostPath != nil && !safeToLose(p, vol.Name) {
				add(who, fmt.Sprintf("hostPath %s of pod %s", vol.HostPath.Path, who))
			}
		}
	}
	// Claims. A pod on another node keeps its data there; only one not
	// yet bound (evicted, waiting for this node) is looked at besides n's
	// own.
	if err := vols.load(ctx); err != nil {
		return nil, nil, err
	}
	for _, p := range slices.Concat(onNode, unbound) {
		if finished(p) {
			continue
		}
		here := p.Spec.NodeName == n.Name
		who := p.Namespace + "/" + p.Name
		for vol, claim := range claimsOf(p) {
			pvc := vols.claims[p.Namespace+"/"+claim]
			if pvc == nil || pvc.Spec.VolumeName == "" {
				continue // the filter chain blocks such pods on the node
			}
			pv := vols.pvs[pvc.Spec.VolumeName]
			if pv != nil && safeToLose(p, vol) {
				declared = append(declared, pv.Name)
				continue
			}
			if pv == nil || seen[pv.Name] || nodeLocal(pv) == "" {
				continue
			}
			if !here && !pinnedTo(pv, n) {
				continue
			}
			seen[pv.Name] = true
			add(who, fmt.Sprintf("PersistentVolume %s (claim %s/%s, %s)", pv.Name, p.Namespace, claim, nodeLocal(pv)))
		}
	}
	for _, name := range declared {
		// Its pod's owner let it go: nor is it data no pod uses.
		// (Another pod's claim on it, not declared, counted above.)
		seen[name] = true
	}
	for _, entry := range unused(n, vols, seen) {
		add("", entry)
	}
	return out, owners, nil
}

// unused returns the node-local data pinned to n that no live pod uses,
// besides the PersistentVolumes already seen: a claim no live pod uses (a
// StatefulSet's pod deleted, its claim kept) bound to a volume pinned to
// n, and a volume pinned to n whose claim is gone (Released: with the
// reclaim policy Retain its data is kept for an operator to recover;
// with Delete it is there until the provisioner's cleanup on that very
// node has run). A volume never bound (Available, no claim) holds no
// one's data.
func unused(n *corev1.Node, vols *volumes, seen map[string]bool) []string {
	var out []string
	for _, key := range slices.Sorted(maps.Keys(vols.claims)) {
		pvc := vols.claims[key]
		if pvc.Spec.VolumeName == "" {
			continue
		}
		pv := vols.pvs[pvc.Spec.VolumeName]
		if pv == nil || seen[pv.Name] || nodeLocal(pv) == "" || !pinnedTo(pv, n) {
			continue
		}
		seen[pv.Name] = true
		out = append(out, fmt.Sprintf("PersistentVolume %s (claim %s, %s)", pv.Name, key, nodeLocal(pv)))
	}
	for _, name := range slices.Sorted(maps.Keys(vols.pvs)) {
		pv := vols.pvs[name]
		ref := pv.Spec.ClaimRef
		if seen[name] || (ref == nil && pv.Status.Phase != corev1.VolumeReleased) || nodeLocal(pv) == "" || !pinnedTo(pv, n) {
			continue
		}
		seen[name] = true
		claim := "a claim gone"
		if ref != nil {
			claim = "claim " + ref.Namespace + "/" + ref.Name
		}
		out = append(out, fmt.Sprintf("PersistentVolume %s (%s by %s, reclaim policy %s, %s)",
			name, cmp.Or(string(pv.Status.Phase), "no longer bound"), claim, cmp.Or(string(pv.Spec.PersistentVolumeReclaimPolicy), "unset"), nodeLocal(pv)))
	}
	return out
}

// finished reports whether the pod has run to completion (Succeeded or
// Failed): it holds nothing.
func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// pinnedTo reports whether the PersistentVolume's required node affinity
// admits node n (the scheduler's rule, from k8s.io/component-helpers).
func pinnedTo(pv *corev1.PersistentVolume, n *corev1.Node) bool {
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil {
		return false
	}
	ok, err := corev1helpers.MatchNodeSelectorTerms(n, na.Required)
	return err == nil && ok
}
