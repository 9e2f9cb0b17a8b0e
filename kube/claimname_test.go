package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestClaimNameIsTheNamedClaimOrTheEphemeralVolumesOwn(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0"}}
	for _, c := range []struct {
		name string
		vol  corev1.Volume
		want string
	}{
		{"named claim", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-db-0"}}}, "data-db-0"},
		{"generic ephemeral volume", corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{
			Ephemeral: &corev1.EphemeralVolumeSource{}}}, "db-0-scratch"},
		{"emptyDir", corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{}}}, ""},
	} {
		if got := ClaimName(pod, c.vol); got != c.want {
			t.Errorf("%s: ClaimName = %q, want %q", c.name, got, c.want)
		}
	}
}
