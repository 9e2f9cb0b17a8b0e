package metrics_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/node-fleet/node-fleet/kube/clientset"
	"github.com/node-fleet/node-fleet/metrics"
)

// The scheduler's view of a cluster with no worker yet: the template is
// the t3.medium's size minus K3s's reservations, three pods of 0.9 CPU need
// two new workers, and the 6-CPU pod is named, not counted. The example's
// clientset (client-go's fake) goes through kube/clientset as a program's
// own clientset would; a program without one uses kube.NewForConfig. In a
// program the source is combined with Prometheus through
// metrics.OverrideScheduler.
func ExampleKubeScheduler() {
	pending := func(name, cpu string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("1Gi")}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}},
		}
	}
	client := fake.NewClientset(pending("checkout-1", "900m"), pending("checkout-2", "900m"), pending("checkout-3", "900m"), pending("checkout-7", "6"))
	src, err := metrics.NewKubeScheduler(metrics.KubeSchedulerConfig{Client: clientset.New(client), InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096})
	if err != nil {
		fmt.Println(err)
		return
	}
	snap, err := src.Collect(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	v := snap.Scheduler
	fmt.Println("template:", v.Template.Source)
	fmt.Println("offers:", v.Template.Free())
	fmt.Println("pending pods:", snap.PendingPods, "new workers needed:", v.NodesNeeded)
	for _, p := range v.Unplaceable() {
		fmt.Println(p.Unplaceable)
	}
	fmt.Printf("demand: %.2f workers\n", v.Demand)
	// Output:
	// template: t3.medium: 2 vCPU, 4 GiB, minus reservations (0.07 CPU, 304 MiB); no Ready worker of the type to learn from
	// offers: 1.93 CPU, 3.7 GiB, 110 pods
	// pending pods: 4 new workers needed: 2
	// pod shop/checkout-7 requests 6 CPU; a new t3.medium worker offers 1.93
	// demand: 1.40 workers
}
