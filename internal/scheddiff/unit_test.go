package scheddiff

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCasesAreTheSameForTheSameSeed: a seed and a case number give the
// same world whatever else was drawn, so a disagreement can be rerun.
func TestCasesAreTheSameForTheSameSeed(t *testing.T) {
	a := newWorld(7, 42, "difftest", "b0")
	newWorld(7, 41, "difftest", "b0")
	b := newWorld(7, 42, "difftest", "b0")
	if diff := cmp.Diff(a.pod, b.pod); diff != "" {
		t.Errorf("pod differs (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(a.nodes, b.nodes); diff != "" {
		t.Errorf("nodes differ (-first +second):\n%s", diff)
	}
	if c := newWorld(8, 42, "difftest", "b0"); cmp.Equal(a.pod, c.pod) && cmp.Equal(a.nodes, c.nodes) {
		t.Error("another seed drew the same world")
	}
}

// TestCasesCoverEveryMechanism: the default run draws every mechanism the
// known disagreements name, and pods that use none of them.
func TestCasesCoverEveryMechanism(t *testing.T) {
	seen := map[string]int{}
	plain := 0
	for i := range 600 {
		w := newWorld(1, i, "difftest", "b0")
		for m := range w.mech {
			seen[m]++
		}
		if len(w.mech) == 0 {
			plain++
		}
	}
	for _, k := range knownDisagreements {
		if k.mech != mechLearnedLabels && seen[k.mech] < 10 {
			t.Errorf("mechanism %s drawn %d times in 600 cases, want at least 10", k.mech, seen[k.mech])
		}
	}
	if plain < 100 {
		t.Errorf("%d of 600 cases use no mechanism the view ignores, want at least 100", plain)
	}
}

// TestDisagreementsAreExcusedOnlyByAKnownMechanismInTheirDirection.
func TestDisagreementsAreExcusedOnlyByAKnownMechanismInTheirDirection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mech    []string
		learned []string
		viewYes bool
		want    bool
	}{
		{"topology spread (the view counts it now), view says yes", []string{mechSpread}, nil, true, false},
		{"topology spread, view says no", []string{mechSpread}, nil, false, false},
		{"ephemeral storage (the view counts it now), view says yes", []string{mechEphemeral}, nil, true, false},
		{"nothing the view ignores", nil, nil, true, false},
		{"learned taints, view says no", nil, []string{"taint maintenance=soon:NoSchedule"}, false, true},
		{"learned taints, view says yes", nil, []string{"taint maintenance=soon:NoSchedule"}, true, false},
		{"node-local volume, view says no", []string{mechNodeLocalVolume}, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &world{mech: map[string]bool{}}
			for _, m := range tc.mech {
				w.mech[m] = true
			}
			o := &outcome{w: w, viewYes: tc.viewYes, schedYes: !tc.viewYes, learned: tc.learned}
			if _, got := o.explanations(); got != tc.want {
				t.Errorf("excused = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSnapshotAppliesSelectorsAsTheServer: the snapshot answers list
// calls by namespace, label and field selector, and refuses a field it
// does not know rather than match wrongly.
func TestSnapshotAppliesSelectorsAsTheServer(t *testing.T) {
	pod := func(ns, name, node string, phase corev1.PodPhase, l map[string]string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
	}
	s := &snapshot{pods: []corev1.Pod{
		pod("a", "p1", "n1", corev1.PodRunning, map[string]string{"app": "web"}),
		pod("a", "p2", "", corev1.PodPending, map[string]string{"app": "db"}),
		pod("a", "p3", "n1", corev1.PodSucceeded, nil),
		pod("b", "p4", "", corev1.PodPending, map[string]string{"app": "web"}),
	}}
	names := func(ns string, opts metav1.ListOptions) []string {
		l, err := s.ListPods(context.Background(), ns, opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range l.Items {
			out = append(out, p.Name)
		}
		return out
	}
	if diff := cmp.Diff([]string{"p1", "p2"}, names("a", metav1.ListOptions{FieldSelector: "status.phase!=Succeeded,status.phase!=Failed"})); diff != "" {
		t.Errorf("live pods of a (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"p1", "p4"}, names("", metav1.ListOptions{LabelSelector: "app=web"})); diff != "" {
		t.Errorf("web pods (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"p2", "p4"}, names("", metav1.ListOptions{FieldSelector: "spec.nodeName="})); diff != "" {
		t.Errorf("unbound pods (-want +got):\n%s", diff)
	}
	if _, err := s.ListPods(context.Background(), "", metav1.ListOptions{FieldSelector: "spec.priority=1"}); err == nil {
		t.Error("a field selector on an unsupported field was accepted")
	}
}
