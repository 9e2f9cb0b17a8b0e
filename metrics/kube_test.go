package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	fleetfake "github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/kube/clientset"
)

func pod(ns, name string, phase corev1.PodPhase, scheduled corev1.ConditionStatus, reason string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Status: corev1.PodStatus{Phase: phase}}
	if scheduled != "" {
		p.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse},
			{Type: corev1.PodScheduled, Status: scheduled, Reason: reason},
		}
	}
	return p
}

func clusterPods() []runtime.Object {
	deleting := pod("default", "deleting", corev1.PodPending, corev1.ConditionFalse, corev1.PodReasonUnschedulable)
	now := metav1.NewTime(t0)
	deleting.DeletionTimestamp = &now
	return []runtime.Object{
		pod("default", "unschedulable-1", corev1.PodPending, corev1.ConditionFalse, corev1.PodReasonUnschedulable),
		pod("default", "unschedulable-2", corev1.PodPending, corev1.ConditionFalse, corev1.PodReasonUnschedulable),
		pod("batch", "unschedulable-3", corev1.PodPending, corev1.ConditionFalse, corev1.PodReasonUnschedulable),
		pod("default", "pulling-image", corev1.PodPending, corev1.ConditionTrue, ""),
		pod("default", "gated", corev1.PodPending, corev1.ConditionFalse, corev1.PodReasonSchedulingGated),
		pod("default", "not-yet-seen", corev1.PodPending, "", ""),
		pod("default", "running", corev1.PodRunning, corev1.ConditionTrue, ""),
		pod("default", "failed-old", corev1.PodFailed, corev1.ConditionFalse, corev1.PodReasonUnschedulable),
		deleting,
	}
}

func TestKubePendingCount(t *testing.T) {
	tests := []struct {
		namespace string
		want      int
	}{{"", 3}, {"default", 2}, {"batch", 1}, {"empty", 0}}
	for _, tc := range tests {
		t.Run("ns="+tc.namespace, func(t *testing.T) {
			client := fake.NewClientset(clusterPods()...)
			k, err := NewKubePending(KubePendingConfig{Client: clientset.New(client), Namespace: tc.namespace, Clock: testclock.NewFakeClock(t0)})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := k.Collect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !snap.PendingPods.OK || snap.PendingPods.Value != float64(tc.want) || !snap.PendingPods.At.Equal(t0) {
				t.Errorf("pending pods %v at %s, want %d at %s", snap.PendingPods, snap.PendingPods.At, tc.want, t0)
			}
			if snap.CPU.OK || !errors.Is(snap.CPU.Err, autoscaler.ErrNoData) {
				t.Errorf("KubePending must leave CPU missing, got %v", snap.CPU)
			}
			// The list asks the server for pending pods only.
			for _, a := range client.Actions() {
				if l, ok := a.(k8stesting.ListAction); ok {
					if fs := l.GetListRestrictions().Fields.String(); fs != "status.phase=Pending" {
						t.Errorf("list field selector %q, want status.phase=Pending", fs)
					}
				}
			}
		})
	}
}

func TestKubePendingAPIError(t *testing.T) {
	client := fake.NewClientset(clusterPods()...)
	client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	k, err := NewKubePending(KubePendingConfig{Client: clientset.New(client)})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := k.Collect(context.Background())
	if err == nil || !errors.Is(err, autoscaler.ErrNoData) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Collect error %v, want ErrNoData with the cause", err)
	}
	if snap.PendingPods.OK || snap.PendingPods.Value != 0 {
		t.Errorf("pending pods %v after an API error, want missing", snap.PendingPods)
	}
}

func TestNewKubePendingConfig(t *testing.T) {
	_, err := NewKubePending(KubePendingConfig{Timeout: -1, PageSize: -5})
	for _, w := range []string{"Client is required", "Timeout must be positive", "PageSize must be positive"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not say %q", err, w)
		}
	}
}

func TestOverridePending(t *testing.T) {
	prom := &fleetfake.Static{Snapshot: autoscaler.Snapshot{Time: t0, CPU: autoscaler.Value(30, t0), Memory: autoscaler.Value(40, t0),
		PendingPods: autoscaler.Value(7, t0), Custom: map[string]autoscaler.Metric{"queue": autoscaler.Value(5, t0)}}}
	failing := autoscaler.MetricSource(failingSource{errors.New("prometheus down")})
	apiDown := func() *fake.Clientset {
		c := fake.NewClientset()
		c.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("apiserver down")
		})
		return c
	}
	tests := []struct {
		name        string
		src         autoscaler.MetricSource
		client      *fake.Clientset
		wantErr     bool
		wantPending float64 // -1: missing
		wantCPU     float64 // -1: missing
	}{
		{"both work: pending from the API", prom, fake.NewClientset(clusterPods()...), false, 3, 30},
		{"source down: still scale up on pending", failing, fake.NewClientset(clusterPods()...), false, 3, -1},
		{"API down: pending missing, not the source's count", prom, apiDown(), false, -1, 30},
		{"both down", failing, apiDown(), true, -1, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewKubePending(KubePendingConfig{Client: clientset.New(tc.client), Clock: testclock.NewFakeClock(t0)})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := OverridePending(tc.src, k).Collect(context.Background())
			if (err != nil) != tc.wantErr {
				t.Errorf("error %v, want error: %v", err, tc.wantErr)
			}
			check := func(name string, m autoscaler.Metric, want float64) {
				if want < 0 {
					if m.OK || !errors.Is(m.Err, autoscaler.ErrNoData) {
						t.Errorf("%s = %v, want missing with ErrNoData", name, m)
					}
				} else if !m.OK || m.Value != want {
					t.Errorf("%s = %v (%v), want %v", name, m, m.Err, want)
				}
			}
			check("pending", snap.PendingPods, tc.wantPending)
			check("cpu", snap.CPU, tc.wantCPU)
		})
	}
}

type failingSource struct{ err error }

func (f failingSource) Collect(context.Context) (autoscaler.Snapshot, error) {
	return autoscaler.Snapshot{}, f.err
}
