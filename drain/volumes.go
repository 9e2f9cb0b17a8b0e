package drain

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/node-fleet/node-fleet/kube"
)

// volumes answers whether a pod's PersistentVolumeClaims hold node-local
// data. It lists the cluster's PersistentVolumeClaims and PersistentVolumes
// once, the first time they are asked for (localData always asks: the
// volumes pinned to a node that no pod uses are data too), and never again
// within one call of ListNodes or Drain.
type volumes struct {
	client kube.Interface
	loaded bool
	claims map[string]*corev1.PersistentVolumeClaim // by namespace/name
	pvs    map[string]*corev1.PersistentVolume      // by name
}

func newVolumes(c kube.Interface) *volumes { return &volumes{client: c} }

func (v *volumes) load(ctx context.Context) error {
	if v.loaded {
		return nil
	}
	claims, err := kube.All(ctx, pageSize, func(ctx context.Context, o metav1.ListOptions) ([]corev1.PersistentVolumeClaim, string, error) {
		l, err := v.client.ListPersistentVolumeClaims(ctx, metav1.NamespaceAll, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	})
	if err != nil {
		return fmt.Errorf("list persistent volume claims: %w", err)
	}
	pvs, err := listPersistentVolumes(ctx, v.client)
	if err != nil {
		return err
	}
	v.claims = make(map[string]*corev1.PersistentVolumeClaim, len(claims))
	for i := range claims {
		v.claims[claims[i].Namespace+"/"+claims[i].Name] = &claims[i]
	}
	v.pvs = make(map[string]*corev1.PersistentVolume, len(pvs))
	for i := range pvs {
		v.pvs[pvs[i].Name] = &pvs[i]
	}
	v.loaded = true
	return nil
}

// listPersistentVolumes lists the cluster's PersistentVolumes.
func listPersistentVolumes(ctx context.Context, c kube.Interface) ([]corev1.PersistentVolume, error) {
	pvs, err := kube.All(ctx, pageSize, func(ctx context.Context, o metav1.ListOptions) ([]corev1.PersistentVolume, string, error) {
		l, err := c.ListPersistentVolumes(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list persistent volumes: %w", err)
	}
	return pvs, nil
}

// pinnedNames returns the node names a PersistentVolume's required node
// affinity pins it to (the values of kubernetes.io/hostname and
// metadata.name "In" requirements, as local-path writes them), once each.
func pinnedNames(pv *corev1.PersistentVolume) []string {
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil {
		return nil
	}
	var out []string
	for _, term := range na.Required.NodeSelectorTerms {
		for _, e := range term.MatchExpressions {
			if e.Key == corev1.LabelHostname && e.Operator == corev1.NodeSelectorOpIn {
				out = append(out, e.Values...)
			}
		}
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn {
				out = append(out, f.Values...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// localStorage returns why the pod's data would be lost with its node, or
// "" when it would not: a hostPath volume, or a claim (named, or created
// for a generic ephemeral volume) bound to a PersistentVolume that lives on
// one node (see nodeLocal). A claim that cannot be found, or that is not
// bound, counts as local: what cannot be checked is not assumed safe.
// Volumes the pod names in its safe-to-evict-local-volumes annotation are
// not counted. emptyDir volumes are the filter chain's business
// (Config.DeleteEmptyDirData).
func (v *volumes) localStorage(ctx context.Context, p *corev1.Pod) (string, error) {
	for _, vol := range p.Spec.Volumes {
		if safeVolume(p, vol.Name) {
			continue
		}
		if vol.HostPath != nil {
			return fmt.Sprintf("hostPath volume %q (%s)", vol.Name, vol.HostPath.Path), nil
		}
		claim := kube.ClaimName(p, vol)
		if claim == "" {
			continue
		}
		if err := v.load(ctx); err != nil {
			return "", err
		}
		pvc := v.claims[p.Namespace+"/"+claim]
		switch {
		case pvc == nil:
			return fmt.Sprintf("volume %q: PersistentVolumeClaim %s not found, so its data may be on the node", vol.Name, claim), nil
		case pvc.Spec.VolumeName == "":
			return fmt.Sprintf("volume %q: PersistentVolumeClaim %s is not bound, so its data may be on the node", vol.Name, claim), nil
		}
		pv := v.pvs[pvc.Spec.VolumeName]
		if pv == nil {
			return fmt.Sprintf("volume %q: PersistentVolume %s of claim %s not found, so its data may be on the node", vol.Name, pvc.Spec.VolumeName, claim), nil
		}
		if why := nodeLocal(pv); why != "" {
			return fmt.Sprintf("volume %q: PersistentVolumeClaim %s is bound to PersistentVolume %s, %s", vol.Name, claim, pv.Name, why), nil
		}
	}
	return "", nil
}

// nodeLocal says why a PersistentVolume's data lives on one node, or ""
// when it does not: a local or hostPath volume source, or a required node
// affinity that pins it to nodes by name (the kubernetes.io/hostname label
// or the metadata.name field), as K3s's local-path provisioner writes it.
// An affinity on zones only (an EBS volume's
// topology.kubernetes.io/zone) is not node-local: the volume outlives the
// node and follows its pod to another node of the zone.
func nodeLocal(pv *corev1.PersistentVolume) string {
	switch {
	case pv.Spec.Local != nil:
		return "a local volume (" + pv.Spec.Local.Path + ")"
	case pv.Spec.HostPath != nil:
		return "a hostPath volume (" + pv.Spec.HostPath.Path + ")"
	}
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil {
		return ""
	}
	for _, term := range na.Required.NodeSelectorTerms {
		for _, e := range term.MatchExpressions {
			if e.Key == corev1.LabelHostname {
				return fmt.Sprintf("pinned by node affinity to %s %v", e.Key, e.Values)
			}
		}
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" {
				return fmt.Sprintf("pinned by node affinity to node %v", f.Values)
			}
		}
	}
	return ""
}
