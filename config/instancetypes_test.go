package config

import (
	"testing"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/metrics"
)

// With PENDING_PODS_SOURCE=api, INSTANCE_TYPE and no WORKER_VCPU, the
// scheduler's view sizes the worker template from EC2 DescribeInstanceTypes
// (ec2fleet's lookup, on moto) while no worker of the type has
// registered: here the workers' selector matches no node of the real API
// server, so the template must come from the instance type.
func TestBuildSizesTheTemplateFromEC2(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	c := kubetest.Connect(t)
	env := good()
	env["PENDING_PODS_SOURCE"], env["INSTANCE_TYPE"] = "api", "m5.large"
	env["NODE_SELECTOR"] = "kubetest.node-fleet.io/run=" + kubetest.Name("none")
	env["PROMETHEUS_URL"] = "http://127.0.0.1:1" // refused at once: only the view matters here
	cfg, err := Load(Lambda, getenv(env), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	awsCfg, err := awsutil.ForEmulator(t.Context(), endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(t.Context(), cfg, Options{AWS: awsCfg, Kube: c.Config})
	if err != nil {
		t.Fatalf("Build without WORKER_VCPU: %v", err)
	}
	defer p.Prometheus.Close()
	snap, _ := p.Config.Metrics.Collect(t.Context())
	if snap.Scheduler == nil {
		t.Fatalf("no scheduler's view: pending %v", snap.PendingPods)
	}
	// m5.large: 2 vCPU and 8 GiB, minus K3s's reservations.
	want := capacity.Resources{MilliCPU: 2000, Memory: 8192 << 20}.Sub(metrics.K3sReservation(2, 8192, metrics.DefaultMaxPods))
	if got := snap.Scheduler.Template; got.InstanceType != "m5.large" || got.Allocatable.MilliCPU != want.MilliCPU || got.Allocatable.Memory != want.Memory {
		t.Errorf("template %+v, want m5.large with allocatable %+v", got, want)
	}
}
