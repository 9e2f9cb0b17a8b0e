package clientset_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/node-fleet/node-fleet/drain"
	"github.com/node-fleet/node-fleet/kube/clientset"
)

// A program that already has a client-go clientset (here client-go's fake;
// in a program kubernetes.NewForConfig's) hands it to drain through New.
func ExampleNew() {
	cs := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1",
		Labels: map[string]string{"node-fleet.io/instance-id": "i-0a1"}}})
	m, err := drain.New(drain.Config{Client: clientset.New(cs)})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := m.Cordon(ctx, "worker-1"); err != nil {
		fmt.Println(err)
		return
	}
	n, err := cs.CoreV1().Nodes().Get(ctx, "worker-1", metav1.GetOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n.Name, "unschedulable:", n.Spec.Unschedulable)
	// Output: worker-1 unschedulable: true
}
