package sim

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

// PodKind is one Deployment of the simulated workload: its pods' requests
// and the share of the demand it serves.
type PodKind struct {
	// Name names the Deployment ("web").
	Name string
	// Requests is what each of its pods asks the scheduler for.
	Requests capacity.Resources
	// Share is the part (0-1) of the demand its pods serve; the shares of
	// a mix add up to 1.
	Share float64
}

// Model is how the simulated cluster behaves: what lags there are between
// the demand and what the autoscaler sees, how long instances take, what
// goes wrong. DefaultModel is the model of a real cluster (the benchmark's);
// IdealModel the old one without lags, kept for comparison. The defaults
// live here and nowhere else; String prints them with every table.
type Model struct {
	// Ideal selects the old model: every pod the demand needs exists at
	// once, all of one size (a PodsPerNode-th of a worker), serves the
	// moment a node is Ready, and the metrics are exact and instant;
	// scale-downs are free; the daemon ticks every 15 seconds and on every
	// step with pending pods. Only the boot-time bounds, interruption and
	// failure rates below apply to it.
	Ideal bool

	// Template is a new worker as the scheduler sees it.
	Template capacity.WorkerTemplate
	// Mix is the workload's Deployments; a demand unit (one "pod" of
	// the trace, see Trace.Pods) is a PodsPerNode-th of a worker's free
	// CPU, and a pod serves as many units as its CPU request holds.
	Mix []PodKind

	// HPATarget is the HPA's target utilisation of the pods' CPU
	// requests (0-1): the demand in a step (Config.Demand) is the
	// requests the HPA wants for it, and the load is HPATarget times
	// that, so that pods keep 1/HPATarget-1 of slack for what the HPA
	// has not caught up with. A pod serves up to its request.
	HPATarget float64
	// HPASync is the horizontal pod autoscaler's sync period; HPALag how
	// old the demand it reads is (its metrics pipeline); HPADownWindow
	// its scale-down stabilisation window (it keeps the highest
	// recommendation of the window). Scale-up is limited per sync as the
	// HPA's default policy does: to the larger of +4 pods and +100%.
	HPASync, HPALag, HPADownWindow time.Duration
	// PodStart is from a pod's binding to a node until it serves
	// (container start, readiness probe), rounded up to the model's step.
	PodStart time.Duration

	// Scrape is Prometheus's scrape interval; RateWindow the range of
	// the CPU query's rate() (the CPU reading is the mean utilisation
	// over it); Noise the standard deviation of the readings' noise, in
	// percentage points.
	Scrape, RateWindow time.Duration
	Noise              float64

	// BootMedian and BootP99 set the lognormal distribution of
	// boot-and-join (EC2 launch to a Ready node); BootMax caps a draw.
	// In the ideal model boot-and-join is uniform in [BootMin, BootMax].
	BootMedian, BootP99 time.Duration
	BootMin, BootMax    time.Duration
	// GhostShare is the share (0-1) of instances that never join.
	GhostShare float64

	// DrainTime is how long a drain takes (evictions, the pods' grace
	// period): the node is billed for it after its pods are evicted.
	DrainTime time.Duration

	// InterruptionRate is the chance per spot instance-hour of an
	// interruption notice; InterruptionNotice the notice (EC2's is 2
	// minutes). LaunchFailureRate is the chance that a tick finds no
	// launch capacity at all (InsufficientInstanceCapacity).
	InterruptionRate   float64
	InterruptionNotice time.Duration
	LaunchFailureRate  float64
}

// DefaultModel is the model of a real cluster the benchmark runs. Sources
// and assumptions (docs/benchmarks.md repeats them):
//
//   - Worker: t3.medium (2 vCPU, 4 GiB) with K3s's reservations, 1930m CPU,
//     3792 MiB and 110 pods allocatable (metrics.K3sReservation's
//     arithmetic, K3s's default max-pods), and a
//     DaemonSet overhead of 100m CPU and 128 MiB (an assumption: a CNI
//     and a log agent).
//   - Pods: three Deployments, 60% of the demand on 250m/256 MiB pods, 30%
//     on 500m/1 GiB pods, 10% on 1000m/1.5 GiB pods (an assumption of a
//     typical mix, not a measurement).
//   - HPA target: 80% of the pods' CPU requests (an assumption; the
//     Kubernetes walkthrough uses 50%, production settings of 70-80% are
//     common).
//   - HPA: the Kubernetes defaults (kubernetes.io, "Horizontal Pod
//     Autoscaling"): sync period 15 s, scale-down stabilisation 300 s,
//     scale-up policy max(4 pods, 100%) per 15 s; its metric 30 s old
//     (metrics-server's default 15 s resolution plus the kubelet's
//     window: an assumption). The HPA reads the demand itself, as a
//     request-rate metric gives it, not CPU capped at saturation.
//   - Pods start 10 s after binding (an assumption: image cached,
//     readiness probe).
//   - Prometheus: 15 s scrapes, the CPU query a 5-minute rate, noise of 2
//     percentage points (an assumption).
//   - Boot-and-join: lognormal with median 90 s and p99 5 min, capped at
//     15 min. EC2 Linux instances reach SSH in about 10-30 s
//     (C. Percival, "EC2 boot time benchmarking", daemonology.net, 2021;
//     M. Sweet, "EC2 Launch Times", martysweet.co.uk, 2023); the K3s
//     agent's install, registration and CNI readiness on top are our
//     assumption (about a minute), and so is the tail (EBS hydration,
//     capacity delays). 1% of instances never join (an assumption).
//   - Drain: 45 s (the default 30 s grace period plus evictions: an
//     assumption).
//   - Spot interruptions: 5% of instances a month (the upper edge of the
//     Spot Instance Advisor's lowest band, "<5%", where t3.medium usually
//     sits), 0.05/720 per instance-hour, with EC2's 2-minute notice.
//     Launch capacity: 1% of ticks find none (an assumption).
func DefaultModel() Model {
	const mi, gi = 1 << 20, 1 << 30
	return Model{
		Template: capacity.WorkerTemplate{InstanceType: "t3.medium",
			Allocatable: capacity.Resources{MilliCPU: 1930, Memory: 3792 * mi, Pods: 110},
			DaemonSet:   capacity.Resources{MilliCPU: 100, Memory: 128 * mi, Pods: 1},
			Source:      "t3.medium: 2 vCPU, 4 GiB, minus K3s reservations"},
		Mix: []PodKind{
			{Name: "web", Requests: capacity.Resources{MilliCPU: 250, Memory: 256 * mi, Pods: 1}, Share: 0.6},
			{Name: "api", Requests: capacity.Resources{MilliCPU: 500, Memory: 1 * gi, Pods: 1}, Share: 0.3},
			{Name: "batch", Requests: capacity.Resources{MilliCPU: 1000, Memory: 1536 * mi, Pods: 1}, Share: 0.1},
		},
		HPATarget: 0.8,
		HPASync:   15 * time.Second, HPALag: 30 * time.Second, HPADownWindow: 5 * time.Minute,
		PodStart: 10 * time.Second,
		Scrape:   15 * time.Second, RateWindow: 5 * time.Minute, Noise: 2,
		BootMedian: 90 * time.Second, BootP99: 5 * time.Minute, BootMin: 20 * time.Second, BootMax: 15 * time.Minute,
		GhostShare:       0.01,
		DrainTime:        45 * time.Second,
		InterruptionRate: 0.05 / 720, InterruptionNotice: 2 * time.Minute,
		LaunchFailureRate: 0.01,
	}
}

// IdealModel is the old model, without lags: uniform boot in 60-120 s,
// every instance joins, no interruptions, no capacity failures.
func IdealModel() Model {
	return Model{Ideal: true, BootMin: 60 * time.Second, BootMax: 120 * time.Second, InterruptionNotice: 2 * time.Minute}
}

// check validates m for a model step of res.
func (m *Model) check(res time.Duration) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("Model."+format, args...)) }
	if m.BootMin <= 0 || m.BootMax < m.BootMin {
		bad("BootMin %s and BootMax %s: want 0 < BootMin <= BootMax", m.BootMin, m.BootMax)
	}
	if math.IsNaN(m.InterruptionRate) || m.InterruptionRate < 0 {
		bad("InterruptionRate must be 0 or more per instance-hour, got %v", m.InterruptionRate)
	}
	if m.InterruptionNotice <= 0 {
		bad("InterruptionNotice must be positive, got %s", m.InterruptionNotice)
	}
	if math.IsNaN(m.LaunchFailureRate) || m.LaunchFailureRate < 0 || m.LaunchFailureRate > 1 {
		bad("LaunchFailureRate must be a probability between 0 and 1, got %v", m.LaunchFailureRate)
	}
	if m.Ideal {
		return errs
	}
	free := m.Template.Free()
	if free.MilliCPU <= 0 || free.Memory <= 0 || free.Pods <= 0 {
		bad("Template leaves nothing for pods: %s", free)
	}
	sum := 0.0
	for i, k := range m.Mix {
		if k.Requests.MilliCPU <= 0 || k.Requests.Pods != 1 || !k.Requests.Fits(free) {
			bad("Mix[%d] (%s): requests %s must ask for some CPU and one pod slot and fit a new worker (%s)", i, k.Name, k.Requests, free)
		}
		if !(k.Share > 0) {
			bad("Mix[%d] (%s): Share must be positive, got %v", i, k.Name, k.Share)
		}
		sum += k.Share
	}
	if len(m.Mix) == 0 || math.Abs(sum-1) > 1e-6 {
		bad("Mix: the shares must add up to 1, got %v over %d kinds", sum, len(m.Mix))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"HPASync", m.HPASync}, {"Scrape", m.Scrape}, {"RateWindow", m.RateWindow}} {
		if d.v <= 0 || d.v%res != 0 {
			bad("%s %s must be a positive multiple of the model's step %s", d.name, d.v, res)
		}
	}
	if !(m.HPATarget > 0 && m.HPATarget <= 1) {
		bad("HPATarget must be a fraction in (0, 1], got %v", m.HPATarget)
	}
	if m.HPALag < 0 || m.HPADownWindow < 0 || m.PodStart < 0 || m.DrainTime < 0 {
		bad("HPALag, HPADownWindow, PodStart and DrainTime must not be negative")
	}
	if m.BootMedian <= 0 || m.BootP99 < m.BootMedian {
		bad("BootMedian %s and BootP99 %s: want 0 < BootMedian <= BootP99", m.BootMedian, m.BootP99)
	}
	if math.IsNaN(m.GhostShare) || m.GhostShare < 0 || m.GhostShare >= 1 {
		bad("GhostShare must be in [0, 1), got %v", m.GhostShare)
	}
	if math.IsNaN(m.Noise) || m.Noise < 0 {
		bad("Noise must not be negative, got %v", m.Noise)
	}
	return errs
}

// bootSigma is the lognormal's sigma: p99 = median * exp(2.326 sigma).
func (m *Model) bootSigma() float64 {
	return math.Log(float64(m.BootP99)/float64(m.BootMedian)) / 2.3263478740408408
}

// String prints the model's settings in a paragraph, for the tables.
func (m Model) String() string {
	per := func(r float64) string {
		return fmt.Sprintf("%.3g per instance-hour (%.1f%% of instances a month)", r, 100*r*720)
	}
	if m.Ideal {
		return fmt.Sprintf("the ideal model (-model ideal): every pod the demand needs exists at once, all of one size, and serves the moment a node is Ready; "+
			"metrics exact and instant; scale-down free; boot-and-join uniform %s-%s, every instance joins; spot interruptions %s; launch-failure chance per tick %g; "+
			"lambda ticks every 2m0s, daemon every 15s and on every step with pending pods",
			m.BootMin, m.BootMax, per(m.InterruptionRate), m.LaunchFailureRate)
	}
	var mix []string
	for _, k := range m.Mix {
		mix = append(mix, fmt.Sprintf("%s %.0f%% of the demand on %sm/%s pods", k.Name, 100*k.Share, fmt.Sprint(k.Requests.MilliCPU), capacity.FormatMemory(k.Requests.Memory)))
	}
	return fmt.Sprintf("a real cluster's lags (-model real, the default): worker %s, allocatable %s, DaemonSets %s; pods: %s; "+
		"HPA targeting %.0f%% of the pods' CPU requests, syncing every %s on the demand %s old, scale-up at most max(+4, +100%%) a sync, scale-down stabilised over %s; pods serve %s after binding; "+
		"Prometheus scrapes every %s, CPU is a %s rate, noise %.1f points; boot-and-join lognormal, median %s, p99 %s (within %s-%s), %.1f%% of instances never join; "+
		"drain %s, billed until terminated, evicted pods unserved until running elsewhere; spot interruptions %s with a %s notice; launch-failure chance per tick %g; "+
		"lambda ticks every 2m0s, daemon every %s (TICK_INTERVAL's default) and when a pod becomes pending",
		m.Template.InstanceType, m.Template.Allocatable, m.Template.DaemonSet, strings.Join(mix, ", "),
		100*m.HPATarget, m.HPASync, m.HPALag, m.HPADownWindow, m.PodStart,
		m.Scrape, m.RateWindow, m.Noise, m.BootMedian, m.BootP99, m.BootMin, m.BootMax, 100*m.GhostShare,
		m.DrainTime, per(m.InterruptionRate), m.InterruptionNotice, m.LaunchFailureRate, DaemonInterval)
}
