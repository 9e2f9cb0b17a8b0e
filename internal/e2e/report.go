package e2e

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"time"
)

// row is one line of the comparison: a measure, how to print it and
// whether less is better (for naming the better system).
type row struct {
	name  string
	value func(Measures) float64 // NaN: not applicable
	unit  string
	less  bool // less is better
}

func secs(d time.Duration) float64 {
	if d < 0 {
		return math.NaN()
	}
	return d.Seconds()
}

var rows = []row{
	{"first pending pod -> launch (instance in EC2 / NodeClaim), s", func(m Measures) float64 { return secs(m.PendingToLaunch) }, "s", true},
	{"sale start -> first launch, s (negative: before the sale)", func(m Measures) float64 {
		if !m.Launched {
			return math.NaN()
		}
		return m.FirstLaunch.Seconds()
	}, "s", true},
	{"sale start -> all pods running, s", func(m Measures) float64 { return secs(m.AllRunning) }, "s", true},
	{"pod-seconds pending during the sale", func(m Measures) float64 { return m.PendingPodSeconds }, "", true},
	{"worker nodes at the peak", func(m Measures) float64 { return float64(m.PeakNodes) }, "", true},
	{"node-seconds, baseline to end of run (cost)", func(m Measures) float64 { return m.NodeSeconds }, "", true},
	{"pods evicted (Eviction API, accepted)", func(m Measures) float64 { return float64(m.Evicted) }, "", true},
	{"evictions refused by a budget (429)", func(m Measures) float64 { return float64(m.Refused) }, "", false},
	{"PDB violations (deletions around the Eviction API, or >1 replica down)", func(m Measures) float64 {
		v := m.Bypasses
		if m.MaxUnavailable > 1 {
			v += m.MaxUnavailable - 1
		}
		return float64(v)
	}, "", true},
	{"sale over -> workers back to the floor, s", func(m Measures) float64 { return secs(m.BackToBaseline) }, "s", true},
	{"launches for the unplaceable pod", func(m Measures) float64 { return float64(m.UnplaceableLaunches) }, "", true},
	{"unplaceable pod named in the autoscaler's log (1 yes, 0 no)", func(m Measures) float64 { return b2f(m.UnplaceableReported) }, "", false},
	{"zones of the sale's workers", func(m Measures) float64 { return float64(len(m.Zones)) }, "", false},
}

// writeTimes writes the report's list of compressed times.
func writeTimes(b *strings.Builder, opts Options) {
	b.WriteString("Time is compressed, the same for both systems:\n\n")
	fmt.Fprintf(b, "- workers: t3.medium for node-fleet (2 vCPU, 4 GiB), Karpenter's kwok `c-2x-amd64-linux` (2 CPU, 4Gi) selected by its `karpenter.kwok.sh/instance-cpu` and `instance-memory` labels;\n")
	fmt.Fprintf(b, "- floor %d and ceiling %d workers: node-fleet's MIN_NODES/MAX_NODES; for Karpenter %d static nodes (NodePools have no minimum) and a NodePool limit of %d CPU (%d workers);\n",
		opts.MinNodes, opts.MaxNodes, opts.MinNodes, 2*(opts.MaxNodes-opts.MinNodes), opts.MaxNodes-opts.MinNodes)
	fmt.Fprintf(b, "- boot delay %s for both: Karpenter's kwok nodes register at once, so node-fleet's joiner registers a worker %s after its instance runs", opts.BootDelay, opts.BootDelay)
	if opts.ReadyDelay > 0 {
		fmt.Fprintf(b, "; then a new worker's Node, of either system, registers NotReady, tainted `node.kubernetes.io/not-ready:NoSchedule` as a kubelet's Node is, and turns Ready %s after it registered (NODEFLEET_E2E_BOOT_DELAY; no pod is bound to it before, a check of every run)", opts.ReadyDelay)
	}
	b.WriteString(";\n")
	fmt.Fprintf(b, "- scale-down cooldown and stabilisation window (SCALE_DOWN_WINDOW) %s = Karpenter's `consolidateAfter`; node-fleet's scale-up cooldown %s; the daemon's TICK_INTERVAL and the Lambda's schedule %s; Karpenter's batching as it ships (1 s idle, 10 s at most);\n",
		opts.ScaleDownCooldown, opts.ScaleUpCooldown, opts.Tick)
	fmt.Fprintf(b, "- node-fleet's POLICY: %s in the lambda and daemon modes; predictive with the sale in CALENDAR (learnt %s ahead) in daemon+calendar.\n\n", opts.Policy, opts.Lead)
	if opts.ReadyDelay > 0 {
		writeBootDelay(b, opts.ReadyDelay)
	} else {
		b.WriteString("The same comparison with a boot for both systems (each new worker NotReady, and unschedulable, for 30 s after it registers): [e2e-boot-delay.md](e2e-boot-delay.md).\n\n")
	}
}

// reportTitle is the report's heading, naming the boot delay if any.
func reportTitle(opts Options) string {
	title := "# End to end: a flash sale, node-fleet and Karpenter"
	if opts.ReadyDelay > 0 {
		title += fmt.Sprintf(", with a boot of %s", opts.ReadyDelay)
	}
	return title
}

// writeBootDelay writes how a booting worker is played and what its delay
// stands for.
func writeBootDelay(b *strings.Builder, delay time.Duration) {
	b.WriteString("How a new worker boots here: the Node is created at once (node-fleet's joiner as soon as the instance runs in moto, Karpenter's kwok provider as it launches the NodeClaim) with the Ready condition False, as a kubelet registers its Node (a MutatingAdmissionPolicy of the harness plays that first status); ")
	b.WriteString("the API server's TaintNodesByCondition admission taints it `node.kubernetes.io/not-ready:NoSchedule` and the node lifecycle controller keeps the taint until kwok's boot stage makes the Node Ready, ")
	fmt.Fprintf(b, "%s after its creationTimestamp (whole seconds, so %s to %s after it registered). ", delay, delay-time.Second, delay)
	b.WriteString("On EC2 an instance boots and its K3s agent joins in about 60-90 s. This harness has no single time scale: ")
	b.WriteString("the daemon's TICK_INTERVAL runs 6 times faster than its default (10 s for 1 m), the Lambda's schedule 12 times (10 s for 2 m), the cooldowns 40 times (15 s for 10 m), SCALE_DOWN_WINDOW 56 times (15 s for its default 14 m), ")
	b.WriteString("while Karpenter's batching (1 s idle, 10 s at most), the scheduler, the API server and the autoscalers' own work run at their real speed. ")
	fmt.Fprintf(b, "Against the real 60-90 s, %s is a boot compressed 2 to 3 times, less than the intervals; against the tick's scale it would stand for %s. ", delay, (6 * delay).Round(time.Second))
	b.WriteString("Either way it is the same for both systems and far longer than either's reaction (seconds), so the sale's first pods wait for a boot, and a system that launches too few workers at once pays a second boot.\n\n")
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// median of the values that are numbers; NaN when none is.
func median(vs []float64) float64 {
	var xs []float64
	for _, v := range vs {
		if !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return math.NaN()
	}
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func cell(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v == math.Trunc(v) && math.Abs(v) < 1e6:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// Report is the comparison in Markdown (docs/e2e.md): the settings, the
// table of medians per mode (in the order of modes), which system is
// better on each line, the failed checks, and each mode's first
// timeline. command is how it was produced.
func Report(results map[Mode][]*Result, modes []Mode, command string, took time.Duration) string {
	var b strings.Builder
	opts := Options{}
	for _, m := range modes {
		if len(results[m]) > 0 {
			opts = results[m][0].Options
			break
		}
	}
	runs := 0
	for _, m := range modes {
		runs = max(runs, len(results[m]))
	}
	var loads []float64
	for _, m := range modes {
		for _, res := range results[m] {
			loads = append(loads, res.Load)
		}
	}
	fmt.Fprintf(&b, "%s\n\n", reportTitle(opts))
	fmt.Fprintf(&b, "Generated by `%s` on %s (%d runs of each mode, %s in all, GOMAXPROCS %d, median 1-minute load average at the runs' ends %s); do not edit by hand.\n\n",
		command, time.Now().UTC().Format("2006-01-02 15:04 MST"), runs, took.Round(time.Second), runtime.GOMAXPROCS(0), cell(median(loads)))
	b.WriteString("Each run starts its own control plane (kube-apiserver, kube-scheduler and kube-controller-manager v1.37.2 on etcd 3.4, kwok v0.8.0 for the kubelets) and, for node-fleet, the deploy's resources in moto (the K3s server instance included), a joiner playing EC2 boot and `provision/worker-join.sh`, Prometheus scraping an exporter of the pods' CPU and memory (half their requests), and the autoscaler with the RBAC of `deploy/server-init.sh`. See `internal/e2e` for the harness.\n\n")
	b.WriteString("The scenario: two Deployments (web 250m/256Mi, api 500m/768Mi) with a PodDisruptionBudget of maxUnavailable 1 each, ")
	fmt.Fprintf(&b, "%d replicas each on %d workers; the sale raises them to %d each; in the middle a pod requesting 4 CPU (workers have 2) is created and later deleted; then the sale is over (back to %d each) and the workers must go back to the floor.\n\n",
		opts.Base, opts.MinNodes, opts.Peak, opts.Base)
	writeTimes(&b, opts)

	b.WriteString("## Medians\n\n| measure |")
	for _, m := range modes {
		fmt.Fprintf(&b, " %s |", m)
	}
	b.WriteString(" better |\n|---|")
	for range modes {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	var karpenterBetter []string
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |", r.name)
		med := map[Mode]float64{}
		for _, m := range modes {
			var vs []float64
			for _, res := range results[m] {
				vs = append(vs, r.value(res.Measures))
			}
			med[m] = median(vs)
			fmt.Fprintf(&b, " %s |", cell(med[m]))
		}
		best := ""
		if r.less {
			var bestV float64
			for _, m := range modes {
				v := med[m]
				if math.IsNaN(v) {
					continue
				}
				switch {
				case best == "" || v < bestV:
					best, bestV = string(m), v
				case v == bestV:
					best += ", " + string(m)
				}
			}
			if best == string(ModeKarpenter) {
				karpenterBetter = append(karpenterBetter, r.name)
			}
		}
		fmt.Fprintf(&b, " %s |\n", best)
	}
	b.WriteString("\n")
	if len(karpenterBetter) > 0 {
		b.WriteString("**Where Karpenter is better** (its median alone is the best):\n\n")
		for _, n := range karpenterBetter {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	} else {
		b.WriteString("Karpenter's median is not alone the best on any line.\n\n")
	}

	b.WriteString("## Failed checks\n\n")
	failed := false
	for _, m := range modes {
		for i, res := range results[m] {
			for _, p := range res.Problems {
				failed = true
				fmt.Fprintf(&b, "- %s, run %d: %s\n", m, i+1, strings.SplitN(p, "\n", 2)[0])
			}
		}
	}
	if !failed {
		b.WriteString("None: in every run the K3s server instance stayed running, no eviction went around a budget, the unplaceable pod launched nothing, the fleet stayed within its floor and ceiling.\n")
	}
	b.WriteString("\n## Checks not applied to the mode (reported, not failing a run)\n\n")
	b.WriteString("The sale's workers over every subnet's zone with max - min <= 1 fails node-fleet's runs; Karpenter's kwok provider is not given the subnets' zones in this harness, so its spread is only reported here.\n\n")
	seen := false
	for _, m := range modes {
		for i, res := range results[m] {
			for _, d := range res.Defects {
				seen = true
				fmt.Fprintf(&b, "- %s, run %d: %s\n", m, i+1, d)
			}
		}
	}
	if !seen {
		b.WriteString("None.\n")
	}
	b.WriteString("\n## Timelines (first run of each mode; seconds from the sale's start)\n")
	for _, m := range modes {
		if len(results[m]) == 0 {
			continue
		}
		res := results[m][0]
		fmt.Fprintf(&b, "\n### %s\n\n```\n%s```\n", m, Format(res.Timeline, res.Zero))
	}
	return b.String()
}
