package metrics

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/kube/clientset"
)

// TestKubeSchedulerViewKnowsWherePodsCanGo: the view judges a pending pod
// against a new worker as the join script registers it, in each zone the
// fleet runs in: labels an operator put on today's workers by hand are
// not assumed; a zone nodeSelector, a claim bound to a zonal volume, zone
// anti-affinity and a zone spread with DoNotSchedule name the zones where
// a new worker helps (PendingPod.Zones); a volume pinned to a node, a
// required pod affinity to a running pod on the hostname, and more
// ephemeral storage than a worker has make the pod unplaceable.
func TestKubeSchedulerViewKnowsWherePodsCanGo(t *testing.T) {
	const zoneA, zoneB = "eu-west-1a", "eu-west-1b"
	alloc := func() corev1.ResourceList {
		l := rl("1930m", "3584Mi")
		l[corev1.ResourceEphemeralStorage] = resource.MustParse("20Gi")
		return l
	}
	hostLabel := func(name, zone string) map[string]string {
		return map[string]string{autoscaler.LabelInstanceID: "i-" + name, autoscaler.LabelInstanceType: "t3.medium", autoscaler.LabelCluster: "prod",
			corev1.LabelHostname: name, corev1.LabelTopologyZone: zone, "pool": "general"} // pool: added by hand
	}
	labelled := func(app string) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Labels = map[string]string{"app": app} }
	}
	small := func() corev1.PodSpec { return containers("100m", "64Mi") }
	with := func(f func(*corev1.PodSpec)) corev1.PodSpec { s := small(); f(&s); return s }
	claim := func(name string) func(*corev1.PodSpec) {
		return func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}}}
		}
	}
	pv := func(name, key, value string) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: corev1.NodeSelectorOpIn, Values: []string{value}}}}}}}}}
	}
	pvc := func(name, volume string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume}}
	}
	term := func(key, app string) corev1.PodAffinityTerm {
		return corev1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}
	}
	objs := []runtime.Object{
		kNode("w-a", hostLabel("w-a", zoneA), alloc(), true),
		kNode("w-b", hostLabel("w-b", zoneB), alloc(), true),
		pv("pv-ebs", corev1.LabelTopologyZone, zoneA), pvc("ebs", "pv-ebs"),
		pv("pv-local", corev1.LabelHostname, "w-b"), pvc("local", "pv-local"),
		kPod("shop", "db-1", "w-a", small(), labelled("db")),
		kPod("shop", "web-1", "w-a", small(), labelled("web")),
		kPod("shop", "web-2", "w-a", small(), labelled("web")),
		kPod("shop", "web-3", "w-b", small(), labelled("web")),

		kPod("shop", "by-hand", "", with(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"pool": "general"} })),
		kPod("shop", "in-b", "", with(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{corev1.LabelTopologyZone: zoneB} })),
		kPod("shop", "cluster", "", with(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{autoscaler.LabelCluster: "prod"} })),
		kPod("shop", "ebs", "", with(claim("ebs"))),
		kPod("shop", "local", "", with(claim("local"))),
		kPod("shop", "not-with-db", "", with(func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term(corev1.LabelTopologyZone, "db")}}}
		})),
		kPod("shop", "next-to-db", "", with(func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term(corev1.LabelHostname, "db")}}}
		})),
		kPod("shop", "web-4", "", with(func(s *corev1.PodSpec) {
			s.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone,
				WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
		}), labelled("web")),
		kPod("shop", "scratch", "", with(func(s *corev1.PodSpec) {
			s.Containers[0].Resources.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse("30Gi")
		})),
	}
	k, err := NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(fake.NewClientset(objs...)), InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096, ClusterID: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := k.View(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type where struct {
		Zones       []string
		Unplaceable string
	}
	got := map[string]where{}
	for _, p := range v.Pending {
		got[p.Name] = where{p.Zones, p.Unplaceable}
	}
	cannot := "cannot run on a new t3.medium worker: "
	want := map[string]where{
		"by-hand":     {Unplaceable: "pod shop/by-hand " + cannot + "its nodeSelector pool=general matches no new worker (a new worker has no label pool)"},
		"in-b":        {Zones: []string{zoneB}},
		"cluster":     {},
		"ebs":         {Zones: []string{zoneA}},
		"local":       {Unplaceable: "pod shop/local " + cannot + "its claim local is bound to PersistentVolume pv-local, pinned to one node"},
		"not-with-db": {Zones: []string{zoneB}},
		"next-to-db":  {Unplaceable: "pod shop/next-to-db " + cannot + "its required pod affinity on kubernetes.io/hostname needs a pod that a new worker does not run"},
		// 2 in a, 1 in b: one more in a would skew by 2.
		"web-4":   {Zones: []string{zoneB}},
		"scratch": {Unplaceable: "pod shop/scratch requests 30 GiB of ephemeral storage; a new t3.medium worker offers 20 GiB"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pending pods (-want +got):\n%s", diff)
	}
}

// staticZones is a FleetZones with a fixed answer.
type staticZones []string

func (z staticZones) Zones(context.Context) ([]string, error) { return z, nil }

// TestKubeSchedulerOffersTheFleetsZonesWithoutWorkers: a pod whose claim is
// bound to a volume in a zone where no worker runs today gets its worker
// there when the fleet's subnets span that zone (FleetZones); without them
// the view only knows the workers' zones and the pod fits no new worker.
func TestKubeSchedulerOffersTheFleetsZonesWithoutWorkers(t *testing.T) {
	const zoneA, zoneC = "eu-west-1a", "eu-west-1c"
	labels := map[string]string{autoscaler.LabelInstanceID: "i-w-a", autoscaler.LabelInstanceType: "t3.medium", autoscaler.LabelCluster: "prod",
		corev1.LabelHostname: "w-a", corev1.LabelTopologyZone: zoneA}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-c"}, Spec: corev1.PersistentVolumeSpec{
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zoneC}}}}}}}}}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-c"}}
	spec := containers("100m", "64Mi")
	spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	objs := []runtime.Object{kNode("w-a", labels, rl("1930m", "3584Mi"), true), pv, pvc, kPod("shop", "db-0", "", spec)}
	for _, c := range []struct {
		name            string
		fleet           FleetZones
		wantZones       []string
		wantUnplaceable bool
	}{
		{"the subnets span zone c", staticZones{zoneA, "eu-west-1b", zoneC}, []string{zoneC}, false},
		{"zones known from the workers only", nil, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(fake.NewClientset(objs...)), InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096,
				ClusterID: "prod", FleetZones: c.fleet})
			if err != nil {
				t.Fatal(err)
			}
			v, _, err := k.View(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Pending) != 1 {
				t.Fatalf("pending %+v, want db-0", v.Pending)
			}
			p := v.Pending[0]
			if diff := cmp.Diff(c.wantZones, p.Zones); diff != "" {
				t.Errorf("zones (-want +got):\n%s", diff)
			}
			if (p.Unplaceable != "") != c.wantUnplaceable {
				t.Errorf("unplaceable %q, want unplaceable %v", p.Unplaceable, c.wantUnplaceable)
			}
		})
	}
}

// zoneWorker is a Ready t3.medium worker of cluster prod in zone.
func zoneWorker(name, zone string) runtime.Object {
	return kNode(name, map[string]string{autoscaler.LabelInstanceID: "i-" + name, autoscaler.LabelInstanceType: "t3.medium", autoscaler.LabelCluster: "prod",
		corev1.LabelHostname: name, corev1.LabelTopologyZone: zone}, rl("1930m", "3584Mi"), true)
}

// webSpread is a pod spec asking 1500m, spread over zones with maxSkew
// among the pods labelled app=web.
func webSpread(maxSkew int32) corev1.PodSpec {
	spread := containers("1500m", "64Mi")
	spread.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: maxSkew, TopologyKey: corev1.LabelTopologyZone,
		WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	return spread
}

// lonePending is the one pending pod of the view of objs (cluster prod,
// t3.medium workers; cfg gives the zones), which must be placeable.
func lonePending(t *testing.T, cfg KubeSchedulerConfig, objs ...runtime.Object) capacity.PendingPod {
	t.Helper()
	cfg.Client, cfg.InstanceType, cfg.VCPU, cfg.MemoryMiB, cfg.ClusterID = clientset.New(fake.NewClientset(objs...)), "t3.medium", 2, 4096, "prod"
	k, err := NewKubeScheduler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := k.View(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Pending) != 1 || v.Pending[0].Unplaceable != "" {
		t.Fatalf("pending %+v, want one placeable pod", v.Pending)
	}
	return v.Pending[0]
}

// TestKubeSchedulerSpreadCountsOnlyZonesWithNodes: a zone of the subnets
// without a node is no spread domain for a worker launched elsewhere (as
// kube-scheduler counts domains from the nodes): with one matching pod in
// each of zones b and c and none in a, a new worker in any zone keeps the
// skew within 1, so the pod is not confined to zone a.
func TestKubeSchedulerSpreadCountsOnlyZonesWithNodes(t *testing.T) {
	const zoneA, zoneB, zoneC = "eu-west-1a", "eu-west-1b", "eu-west-1c"
	web := func(p *corev1.Pod) { p.Labels = map[string]string{"app": "web"} }
	p := lonePending(t, KubeSchedulerConfig{FleetZones: staticZones{zoneA, zoneB, zoneC}},
		zoneWorker("w-b", zoneB), zoneWorker("w-c", zoneC),
		kPod("shop", "web-1", "w-b", containers("1500m", "64Mi"), web), kPod("shop", "web-2", "w-c", containers("1500m", "64Mi"), web),
		kPod("shop", "web-3", "", webSpread(1), web))
	if z := p.Zones; z != nil {
		t.Errorf("web-3 confined to zones %v, want any zone", z)
	}
}

// TestKubeSchedulerSpreadCountsThePodItselfOnlyWhenItMatches: a pod whose
// own labels its zone spread does not select adds nothing to a zone's
// count (kube-scheduler's selfMatchNum is 0): with two matching pods in
// zone b and none in c, a new worker in zone b keeps the skew at 2, so
// maxSkew 2 allows any zone; a pod the spread selects is kept out of b.
func TestKubeSchedulerSpreadCountsThePodItselfOnlyWhenItMatches(t *testing.T) {
	const zoneB, zoneC = "eu-west-1b", "eu-west-1c"
	for _, tt := range []struct {
		app  string
		want []string
	}{
		{"batch", nil},
		{"web", []string{zoneC}},
	} {
		t.Run(tt.app, func(t *testing.T) {
			web := func(p *corev1.Pod) { p.Labels = map[string]string{"app": "web"} }
			p := lonePending(t, KubeSchedulerConfig{Zones: []string{zoneB, zoneC}},
				zoneWorker("w-b", zoneB), zoneWorker("w-c", zoneC),
				kPod("shop", "web-1", "w-b", containers("500m", "64Mi"), web), kPod("shop", "web-2", "w-b", containers("500m", "64Mi"), web),
				kPod("shop", "big", "w-c", containers("1500m", "64Mi")),
				kPod("shop", "new", "", webSpread(2), func(p *corev1.Pod) { p.Labels = map[string]string{"app": tt.app} }))
			if diff := cmp.Diff(tt.want, p.Zones); diff != "" {
				t.Errorf("zones (-want +got):\n%s", diff)
			}
		})
	}
}
