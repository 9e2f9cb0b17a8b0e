package scheddiff

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// Labels the test puts on everything it makes. A world is one case: a
// few nodes of its own and one pod that, through a nodeSelector on the
// world label, can run on the world's nodes only; the pods of one world
// select (spread, affinity) only pods of the same world. So hundreds of
// cases share one control plane without touching each other.
const (
	labelWorld = "difftest.node-fleet.io/world"
	labelBatch = "difftest.node-fleet.io/batch"
	labelRole  = "difftest.node-fleet.io/role" // worker, other, probe; filler, test
	labelApp   = "app"
	labelDisk  = "disk" // a label an operator put on some workers by hand
	labelPool  = "node-fleet.io/pool"
	labelTeam  = "team"
)

var zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

// instanceClass is an instance type as its workers register: what a new
// worker of the type offers.
type instanceClass struct {
	typ       string
	vcpu      int
	memoryMiB int64
	cpu, mem  string // allocatable
	eph       string // allocatable ephemeral storage
}

var (
	t3medium = instanceClass{typ: "t3.medium", vcpu: 2, memoryMiB: 4096, cpu: "1930m", mem: "3788Mi", eph: "18Gi"}
	t3large  = instanceClass{typ: "t3.large", vcpu: 2, memoryMiB: 8192, cpu: "1930m", mem: "7680Mi", eph: "18Gi"}
	m5xlarge = instanceClass{typ: "m5.xlarge", vcpu: 4, memoryMiB: 16384, cpu: "3920m", mem: "15Gi", eph: "40Gi"}
)

// Mechanisms by which kube-scheduler may reject or accept a pod on a new
// worker, each set on a case whose pod uses it (see world.mechanisms);
// a disagreement is explained by the mechanisms its case uses.
const (
	mechEphemeral       = "ephemeral-storage"      // a request larger than a new worker's ephemeral storage
	mechZoneSelector    = "zone-selector"          // nodeSelector or required node affinity on the zone
	mechVolumeZone      = "volume-zone"            // a claim bound to a volume in another zone than the new worker's
	mechNodeLocalVolume = "node-local-volume"      // a claim bound to a volume pinned to an existing node
	mechSpread          = "topology-spread"        // a zone topology spread constraint with DoNotSchedule
	mechAntiAffinity    = "pod-anti-affinity-zone" // a required pod anti-affinity on the zone
	mechPodAffinity     = "pod-affinity"           // a required pod affinity (zone or hostname)
	mechLearnedLabels   = "learned-labels"         // the view's new worker has labels or taints that only today's workers carry
)

// world is one case.
type world struct {
	name      string
	batch     string
	class     instanceClass
	labels    map[string]string // the launch template's labels: every worker of the class, new ones too
	taints    []corev1.Taint    // the launch template's taints
	nodes     []*corev1.Node    // existing nodes
	fillers   []*corev1.Pod     // pods already bound to them
	pv        *corev1.PersistentVolume
	pvc       *corev1.PersistentVolumeClaim
	pod       *corev1.Pod // the pod under test
	probeZone string      // the zone of the new worker the pod is tried on
	// mech are the mechanisms the pod uses that may decide the new
	// worker's answer (besides CPU, memory, pods, nodeSelector,
	// affinity and taints on the template's own labels).
	mech map[string]bool
}

func quantity(s string) resource.Quantity { return resource.MustParse(s) }

// newWorld draws case i of the run with seed. Each case has a random
// source of its own, so that a case is the same whatever the batch size.
func newWorld(seed uint64, i int, ns, batch string) *world {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	chance := func(p float64) bool { return rng.Float64() < p }
	w := &world{name: fmt.Sprintf("w%d", i), batch: batch, mech: map[string]bool{}}
	w.class = []instanceClass{t3medium, t3large}[rng.IntN(2)]
	w.labels = map[string]string{labelPool: "general"}
	if chance(0.3) {
		w.labels[labelTeam] = []string{"a", "b"}[rng.IntN(2)]
	}
	if chance(0.2) {
		w.taints = []corev1.Taint{{Key: "dedicated", Value: "batch", Effect: corev1.TaintEffectNoSchedule}}
	}
	nWorkers := 1 + rng.IntN(2)
	for j := range nWorkers {
		n := w.node(fmt.Sprintf("%s-%s-n%d", ns, w.name, j), "worker", w.class, zones[rng.IntN(len(zones))])
		if chance(0.5) {
			n.Labels[labelDisk] = "ssd"
		}
		if chance(0.15) {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "maintenance", Value: "soon", Effect: corev1.TaintEffectNoSchedule})
		}
		w.nodes = append(w.nodes, n)
	}
	if chance(0.15) {
		// A worker of another instance type: pods may run on it, the
		// view does not learn a new worker from it.
		w.nodes = append(w.nodes, w.node(fmt.Sprintf("%s-%s-big", ns, w.name), "other", m5xlarge, zones[rng.IntN(len(zones))]))
	}
	apps := []string{"web", "db", ""}
	for _, n := range w.nodes {
		// Filled well, so that most pods under test are left pending
		// and tried on a new worker (the comparison the test is for).
		k := 1 + rng.IntN(2)
		fill := 0.55 + 0.45*rng.Float64()
		cpu := n.Status.Allocatable[corev1.ResourceCPU]
		mem := n.Status.Allocatable[corev1.ResourceMemory]
		for f := range k {
			share := fill / float64(k)
			p := w.newPod(fmt.Sprintf("%s-f%d", n.Name, f), ns, "filler", apps[rng.IntN(len(apps))])
			p.Spec.NodeName = n.Name
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(share*float64(cpu.MilliValue())), resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(int64(share*float64(mem.Value()))&^0xfffff, resource.BinarySI),
			}
			if chance(0.2) {
				p.Spec.Containers[0].Resources.Requests[corev1.ResourceEphemeralStorage] = quantity(fmt.Sprintf("%dGi", 1+rng.IntN(12)))
			}
			w.fillers = append(w.fillers, p)
		}
	}

	// The pod under test.
	app := []string{"web", "web", "db", "solo", "solo"}[rng.IntN(5)]
	p := w.newPod(fmt.Sprintf("%s-test", w.name), ns, "test", app)
	req := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(100+rng.IntN(1900)), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(64+rng.IntN(4000))<<20, resource.BinarySI),
	}
	if chance(0.3) {
		eph := quantity(fmt.Sprintf("%dGi", 1+rng.IntN(25)))
		req[corev1.ResourceEphemeralStorage] = eph
		if limit := quantity(w.class.eph); eph.Cmp(limit) > 0 {
			w.mech[mechEphemeral] = true
		}
	}
	p.Spec.Containers[0].Resources.Requests = req
	sel := p.Spec.NodeSelector
	if chance(0.3) {
		sel[labelPool] = "general"
	}
	if chance(0.12) {
		sel[labelDisk] = "ssd"
	}
	if chance(0.08) {
		sel[labelTeam] = "a"
	}
	if chance(0.1) {
		sel[corev1.LabelTopologyZone] = zones[rng.IntN(len(zones))]
		w.mech[mechZoneSelector] = true
	}
	var affinity corev1.Affinity
	if chance(0.25) {
		var e corev1.NodeSelectorRequirement
		switch rng.IntN(6) {
		case 0:
			z := slices.Clone(zones)
			rng.Shuffle(len(z), func(a, b int) { z[a], z[b] = z[b], z[a] })
			e = corev1.NodeSelectorRequirement{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: z[:2]}
			w.mech[mechZoneSelector] = true
		case 1:
			e = corev1.NodeSelectorRequirement{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpNotIn, Values: []string{zones[rng.IntN(len(zones))]}}
			w.mech[mechZoneSelector] = true
		case 2:
			e = corev1.NodeSelectorRequirement{Key: labelDisk, Operator: corev1.NodeSelectorOpDoesNotExist}
		case 3:
			e = corev1.NodeSelectorRequirement{Key: labelPool, Operator: corev1.NodeSelectorOpIn, Values: []string{"general"}}
		case 4:
			e = corev1.NodeSelectorRequirement{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpIn, Values: []string{w.class.typ}}
		case 5:
			e = corev1.NodeSelectorRequirement{Key: labelTeam, Operator: corev1.NodeSelectorOpExists}
		}
		affinity.NodeAffinity = &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{e}}}}}
	}
	if len(w.taints) > 0 && chance(0.7) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "batch", Effect: corev1.TaintEffectNoSchedule})
	}
	if chance(0.3) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "maintenance", Operator: corev1.TolerationOpExists})
	}
	if chance(0.05) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists})
	}
	same := func(app string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{labelWorld: w.name, labelApp: app}}
	}
	topologyKey := func() string {
		if chance(0.5) {
			return corev1.LabelTopologyZone
		}
		return corev1.LabelHostname
	}
	if chance(0.15) {
		skew := int32(1)
		if chance(0.3) {
			skew = 2
		}
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: skew, TopologyKey: corev1.LabelTopologyZone,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: same("web")}}
		w.mech[mechSpread] = true
	}
	if chance(0.15) {
		key := topologyKey()
		affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: same("db"), TopologyKey: key}}}
		if key == corev1.LabelTopologyZone {
			w.mech[mechAntiAffinity] = true
		}
	}
	if chance(0.1) {
		affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: same("db"), TopologyKey: topologyKey()}}}
		w.mech[mechPodAffinity] = true
	}
	if affinity != (corev1.Affinity{}) {
		p.Spec.Affinity = &affinity
	}
	w.probeZone = zones[rng.IntN(len(zones))]

	// A claim bound to a zonal volume (EBS) or to a node-local one
	// (local-path, local PVs).
	switch r := rng.Float64(); {
	case r < 0.12:
		z := zones[rng.IntN(len(zones))]
		w.volume(ns, corev1.LabelTopologyZone, z, corev1.PersistentVolumeSource{
			CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: "vol-" + ns + "-" + w.name}})
		w.pv.Labels[corev1.LabelTopologyZone] = z
		if z != w.probeZone {
			w.mech[mechVolumeZone] = true
		}
	case r < 0.2:
		var workers []*corev1.Node
		for _, n := range w.nodes {
			if n.Labels[labelRole] == "worker" {
				workers = append(workers, n)
			}
		}
		n := workers[rng.IntN(len(workers))]
		w.volume(ns, corev1.LabelHostname, n.Name, corev1.PersistentVolumeSource{
			Local: &corev1.LocalVolumeSource{Path: "/var/lib/rancher/k3s/storage/" + w.name}})
		w.mech[mechNodeLocalVolume] = true
	}
	if w.pvc != nil {
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: w.pvc.Name}}}}
	}
	w.pod = p
	return w
}

// node makes a Node of the world as a worker of class registers in zone.
func (w *world) node(name, role string, c instanceClass, zone string) *corev1.Node {
	l := maps.Clone(w.labels)
	maps.Copy(l, map[string]string{
		labelWorld: w.name, labelBatch: w.batch, labelRole: role,
		corev1.LabelHostname: name, corev1.LabelTopologyZone: zone,
		corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64",
		// The deprecated aliases every kubelet still sets.
		"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
		corev1.LabelInstanceTypeStable: c.typ, autoscaler.LabelInstanceType: c.typ,
	})
	alloc := corev1.ResourceList{
		corev1.ResourceCPU: quantity(c.cpu), corev1.ResourceMemory: quantity(c.mem),
		corev1.ResourceEphemeralStorage: quantity(c.eph), corev1.ResourcePods: quantity("110"),
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: *resource.NewQuantity(int64(c.vcpu), resource.DecimalSI), corev1.ResourceMemory: *resource.NewQuantity(c.memoryMiB<<20, resource.BinarySI),
		corev1.ResourceEphemeralStorage: quantity("20Gi"), corev1.ResourcePods: quantity("110"),
	}
	if c.typ == m5xlarge.typ {
		capacity[corev1.ResourceEphemeralStorage] = quantity("50Gi")
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Spec:       corev1.NodeSpec{ProviderID: "k3s://" + name, Taints: slices.Clone(w.taints)},
		Status:     corev1.NodeStatus{Capacity: capacity, Allocatable: alloc},
	}
}

// probe is the new worker of the world's class in its probe zone: what
// the launch template and the join script give it, nothing an operator
// added by hand to today's workers.
func (w *world) probe(ns string) *corev1.Node {
	n := w.node(fmt.Sprintf("%s-%s-new", ns, w.name), "probe", w.class, w.probeZone)
	return n
}

// workerLabels are the labels a new worker registers with besides its
// hostname and zone (the launch template's and the join script's), as
// KubeSchedulerConfig.WorkerLabels is configured.
func (w *world) workerLabels() map[string]string {
	l := maps.Clone(w.probe("x").Labels)
	delete(l, corev1.LabelHostname)
	delete(l, corev1.LabelTopologyZone)
	return l
}

func (w *world) newPod(name, ns, role, app string) *corev1.Pod {
	l := map[string]string{labelWorld: w.name, labelBatch: w.batch, labelRole: role}
	if app != "" {
		l[labelApp] = app
	}
	zero := int64(0)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{labelWorld: w.name},
			TerminationGracePeriodSeconds: &zero,
			Containers:                    []corev1.Container{{Name: "app", Image: "registry.example/difftest"}},
		},
	}
}

// volume makes a claim bound to a volume with required node affinity
// key=value.
func (w *world) volume(ns, key, value string, src corev1.PersistentVolumeSource) {
	name := fmt.Sprintf("%s-%s", ns, w.name)
	class := "difftest-static"
	w.pv = &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{labelWorld: w.name, labelBatch: w.batch}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: quantity("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			PersistentVolumeSource:        src,
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: w.name},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: corev1.NodeSelectorOpIn, Values: []string{value}}}}}}},
		},
	}
	w.pvc = &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: ns, Labels: map[string]string{labelWorld: w.name, labelBatch: w.batch}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: quantity("1Gi")}},
			StorageClassName: &class,
			VolumeName:       name,
		},
	}
}
