package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/node-fleet/node-fleet/metrics"
)

// PodCPUExporter stands in for node_exporter on kwok's nodes, which run
// no processes: every second it reads the Running pods and charges each
// node with a share (CPUUse, MemoryUse) of its pods' requests, and serves
// node_exporter's series for the default queries, each node its own
// instance (its InternalIP:9100, as node_exporter's DaemonSet is scraped;
// Prometheus must honour the labels) and labelled with the node:
// node_cpu_seconds_total{instance,node,cpu,mode="idle"|"user"} (counters that grow
// by the node's idle and busy cores each second),
// node_memory_MemTotal_bytes and node_memory_MemAvailable_bytes.
type PodCPUExporter struct {
	// Addr is host:port on 127.0.0.1, for a scrape target.
	Addr string

	kube           kubernetes.Interface
	cpuUse, memUse float64
	exclude        map[string]bool

	mu    sync.Mutex
	nodes map[string]*nodeUse
	srv   *http.Server
}

type nodeUse struct {
	instance          string  // node_exporter's instance: InternalIP:9100
	cores, idle, busy float64 // capacity; counters in CPU-seconds
	memTotal, memUsed float64
}

// StartPodCPUExporter serves the exporter on a free loopback port until
// ctx ends. cpuUse and memUse are the shares of their requests that pods
// use (0.5: half); nodes named in exclude (the K3s server) are left out.
func StartPodCPUExporter(ctx context.Context, kube kubernetes.Interface, cpuUse, memUse float64, exclude ...string) (*PodCPUExporter, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &PodCPUExporter{Addr: l.Addr().String(), kube: kube, cpuUse: cpuUse, memUse: memUse, exclude: map[string]bool{}, nodes: map[string]*nodeUse{}}
	for _, n := range exclude {
		e.exclude[n] = true
	}
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.srv.Serve(l) }()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				_ = e.srv.Close()
				return
			case now := <-t.C:
				e.sample(ctx, now.Sub(last).Seconds())
				last = now
			}
		}
	}()
	return e, nil
}

// sample charges each node for dt seconds of its pods' use.
func (e *PodCPUExporter) sample(ctx context.Context, dt float64) {
	nodes, err := e.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	pods, err := e.kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running"})
	if err != nil {
		return
	}
	cpu, mem := map[string]float64{}, map[string]float64{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			continue
		}
		r := metrics.PodRequests(p)
		cpu[p.Spec.NodeName] += float64(r.MilliCPU) / 1000 * e.cpuUse
		mem[p.Spec.NodeName] += float64(r.Memory) * e.memUse
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	live := map[string]bool{}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if e.exclude[n.Name] {
			continue
		}
		live[n.Name] = true
		u := e.nodes[n.Name]
		if u == nil {
			u = &nodeUse{}
			e.nodes[n.Name] = u
		}
		u.instance = n.Name + ":9100"
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				u.instance = a.Address + ":9100"
			}
		}
		u.cores = float64(n.Status.Capacity.Cpu().MilliValue()) / 1000
		u.memTotal = float64(n.Status.Capacity.Memory().Value())
		busy := min(cpu[n.Name], u.cores)
		u.busy += busy * dt
		u.idle += (u.cores - busy) * dt
		u.memUsed = min(mem[n.Name], u.memTotal)
	}
	for n := range e.nodes {
		if !live[n] {
			delete(e.nodes, n)
		}
	}
}

func (e *PodCPUExporter) serve(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	names := make([]string, 0, len(e.nodes))
	for n := range e.nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("# TYPE node_cpu_seconds_total counter\n")
	for _, n := range names {
		u := e.nodes[n]
		fmt.Fprintf(&b, "node_cpu_seconds_total{instance=%q,node=%q,cpu=\"0\",mode=\"idle\"} %g\n", u.instance, n, u.idle)
		fmt.Fprintf(&b, "node_cpu_seconds_total{instance=%q,node=%q,cpu=\"0\",mode=\"user\"} %g\n", u.instance, n, u.busy)
	}
	b.WriteString("# TYPE node_memory_MemTotal_bytes gauge\n")
	for _, n := range names {
		fmt.Fprintf(&b, "node_memory_MemTotal_bytes{instance=%q,node=%q} %g\n", e.nodes[n].instance, n, e.nodes[n].memTotal)
	}
	b.WriteString("# TYPE node_memory_MemAvailable_bytes gauge\n")
	for _, n := range names {
		u := e.nodes[n]
		fmt.Fprintf(&b, "node_memory_MemAvailable_bytes{instance=%q,node=%q} %g\n", u.instance, n, u.memTotal-u.memUsed)
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write([]byte(b.String()))
}
