package daemon

import (
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func unschedulablePod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		}}},
	}
}

func TestWatchForgetsAPodDeletedWhileTheWatchWasDown(t *testing.T) {
	for _, tc := range []struct {
		name   string
		delete func(pod *corev1.Pod) any
	}{
		{"deleted pod", func(pod *corev1.Pod) any { return pod }},
		{"tombstone after a relist", func(pod *corev1.Pod) any {
			return cache.DeletedFinalStateUnknown{Key: "shop/web", Obj: pod}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			triggers := 0
			h := newUnschedulableHandler(func() { triggers++ }, slog.New(slog.NewTextHandler(io.Discard, nil))).funcs()
			pod := unschedulablePod("web")
			h.OnAdd(pod, false)
			h.OnUpdate(pod, pod) // the same pod again: no second trigger
			h.OnDelete(tc.delete(pod))
			// A pod of the same name, created anew, is a new pod.
			h.OnAdd(unschedulablePod("web"), false)
			if triggers != 2 {
				t.Errorf("%d triggers, want 2 (the pod, then the new pod of the same name)", triggers)
			}
		})
	}
}

func TestWatchTriggersForEveryPodThatBecomesUnschedulable(t *testing.T) {
	triggers := 0
	h := newUnschedulableHandler(func() { triggers++ }, slog.New(slog.NewTextHandler(io.Discard, nil))).funcs()
	for _, name := range []string{"a", "b", "c"} {
		h.OnAdd(unschedulablePod(name), false)
	}
	scheduled := unschedulablePod("a")
	scheduled.Status.Conditions = nil
	h.OnUpdate(unschedulablePod("a"), scheduled)
	h.OnUpdate(scheduled, unschedulablePod("a")) // unschedulable again
	if triggers != 4 {
		t.Errorf("%d triggers, want 4 (three pods, one of them again)", triggers)
	}
}
