package metrics

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/kube"
)

// wontLand explains why a pod with this spec could not be scheduled on a
// new worker with the given labels and taints, or returns "" when it finds
// no reason (as far as labels and taints go); landsOn, on the scheduler's
// own rules, decides, and this only says why: its nodeSelector, its required node affinity
// (the scheduler's NodeAffinity filter), and the taints with effect
// NoSchedule or NoExecute it does not tolerate (the TaintToleration
// filter). A new worker's name is not known, so an affinity on the
// metadata.name field never matches it.
func wontLand(spec *corev1.PodSpec, labels map[string]string, taints []capacity.Taint) string {
	keys := slices.Sorted(maps.Keys(spec.NodeSelector))
	for _, k := range keys {
		if v, ok := labels[k]; !ok || v != spec.NodeSelector[k] {
			return fmt.Sprintf("its nodeSelector %s=%s matches no new worker (%s)", k, spec.NodeSelector[k], describeLabel(labels, k))
		}
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		var why []string
		ok := false
		for _, t := range terms {
			r := termMismatch(t, labels)
			if r == "" {
				ok = true
				break
			}
			why = append(why, r)
		}
		if !ok {
			return "its required node affinity matches no new worker (" + strings.Join(why, "; or ") + ")"
		}
	}
	for _, t := range taints {
		if t.Effect != string(corev1.TaintEffectNoSchedule) && t.Effect != string(corev1.TaintEffectNoExecute) {
			continue
		}
		if !slices.ContainsFunc(spec.Tolerations, func(tol corev1.Toleration) bool { return tolerates(tol, t) }) {
			return "it does not tolerate the new worker's taint " + t.String()
		}
	}
	return ""
}

func describeLabel(labels map[string]string, k string) string {
	if v, ok := labels[k]; ok {
		return fmt.Sprintf("a new worker has %s=%s", k, v)
	}
	return "a new worker has no label " + k
}

// termMismatch returns why a node selector term does not match a node with
// these labels, or "" when it does. A term without requirements matches
// nothing, as in the API.
func termMismatch(t corev1.NodeSelectorTerm, labels map[string]string) string {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return "an empty term"
	}
	for _, e := range t.MatchExpressions {
		v, has := labels[e.Key]
		var ok bool
		switch e.Operator {
		case corev1.NodeSelectorOpIn:
			ok = has && slices.Contains(e.Values, v)
		case corev1.NodeSelectorOpNotIn:
			ok = !has || !slices.Contains(e.Values, v)
		case corev1.NodeSelectorOpExists:
			ok = has
		case corev1.NodeSelectorOpDoesNotExist:
			ok = !has
		case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
			if has && len(e.Values) == 1 {
				n, err1 := strconv.ParseInt(v, 10, 64)
				lim, err2 := strconv.ParseInt(e.Values[0], 10, 64)
				ok = err1 == nil && err2 == nil && ((e.Operator == corev1.NodeSelectorOpGt && n > lim) || (e.Operator == corev1.NodeSelectorOpLt && n < lim))
			}
		}
		if !ok {
			return fmt.Sprintf("%s %s %v: %s", e.Key, e.Operator, e.Values, describeLabel(labels, e.Key))
		}
	}
	for _, f := range t.MatchFields {
		// Only metadata.name is supported; a new node's name is not
		// known, so only NotIn can hold.
		if f.Key != "metadata.name" || f.Operator != corev1.NodeSelectorOpNotIn {
			return fmt.Sprintf("field %s %s %v: a new worker's name is not known", f.Key, f.Operator, f.Values)
		}
	}
	return ""
}

// tolerates reports whether tol tolerates taint t, by the API's own rule
// (corev1.Toleration.ToleratesTaint).
func tolerates(tol corev1.Toleration, t capacity.Taint) bool {
	return tol.ToleratesTaint(logr.Discard(), &corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)}, false)
}

// daemonSetTolerations are the tolerations the DaemonSet controller adds
// to every DaemonSet pod (k8s.io/kubernetes/pkg/controller/daemon/util),
// so that a DaemonSet's pods land on nodes with these taints.
func daemonSetTolerations(spec *corev1.PodSpec) []corev1.Toleration {
	out := slices.Clone(spec.Tolerations)
	for _, t := range []struct {
		key    string
		effect corev1.TaintEffect
	}{
		{corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute},
		{corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute},
		{corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule},
		{corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule},
		{corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule},
		{corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule},
	} {
		out = append(out, corev1.Toleration{Key: t.key, Operator: corev1.TolerationOpExists, Effect: t.effect})
	}
	if spec.HostNetwork {
		out = append(out, corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return out
}

// apartGroup returns the group of pods that p keeps apart from on one
// node: kube.ApartGroup.
func apartGroup(p *corev1.Pod) string { return kube.ApartGroup(p) }
