package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTermSelectsByNamespaceAndLabels(t *testing.T) {
	owner := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}}
	pod := func(ns, app string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Labels: map[string]string{"app": app}}}
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	for _, c := range []struct {
		name string
		term corev1.PodAffinityTerm
		q    *corev1.Pod
		want bool
	}{
		{"owner's namespace, labels match", corev1.PodAffinityTerm{LabelSelector: sel}, pod("shop", "db"), true},
		{"owner's namespace, labels differ", corev1.PodAffinityTerm{LabelSelector: sel}, pod("shop", "web"), false},
		{"another namespace", corev1.PodAffinityTerm{LabelSelector: sel}, pod("ops", "db"), false},
		{"named namespaces", corev1.PodAffinityTerm{LabelSelector: sel, Namespaces: []string{"ops"}}, pod("ops", "db"), true},
		{"a namespace selector: every namespace", corev1.PodAffinityTerm{LabelSelector: sel, NamespaceSelector: &metav1.LabelSelector{}}, pod("ops", "db"), true},
		{"no label selector selects nothing", corev1.PodAffinityTerm{}, pod("shop", "db"), false},
	} {
		if got := TermSelects(c.term, owner, c.q); got != c.want {
			t.Errorf("%s: TermSelects = %v, want %v", c.name, got, c.want)
		}
	}
}
