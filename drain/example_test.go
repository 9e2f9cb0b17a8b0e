package drain_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/node-fleet/node-fleet/drain"
	"github.com/node-fleet/node-fleet/kube/clientset"
)

// A Manager on a cluster of three workers and a K3s server: the server is
// left out by the selector, and neither the worker running a pod without a
// controller nor the one whose pod keeps data on it (hostPath) can be
// removed. The example's clientset is client-go's fake, passed through
// kube/clientset as a program passes its own clientset; a program without
// one uses kube.NewForConfig, as the Lambda function does.
func Example() {
	ready := corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}
	yes := true
	client := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "server", Labels: map[string]string{"node-role.kubernetes.io/control-plane": "true"}}, Status: ready},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1", Labels: map[string]string{"node-fleet.io/instance-id": "i-0a1"}}, Status: ready},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-2", Labels: map[string]string{"node-fleet.io/instance-id": "i-0a2"}}, Status: ready},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-7d9-x2", OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9", Controller: &yes}}},
			Spec: corev1.PodSpec{NodeName: "worker-1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning},
		},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-3", Labels: map[string]string{"node-fleet.io/instance-id": "i-0a3"}}, Status: ready},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "logs-5c8-k1", OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "logs-5c8", Controller: &yes}}},
			Spec: corev1.PodSpec{NodeName: "worker-3", Volumes: []corev1.Volume{{Name: "varlog",
				VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "debug"},
			Spec:       corev1.PodSpec{NodeName: "worker-2"}, Status: corev1.PodStatus{Phase: corev1.PodRunning},
		},
	)
	m, err := drain.New(drain.Config{Client: clientset.New(client), NodeSelector: "!node-role.kubernetes.io/control-plane"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	nodes, err := m.ListNodes(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range nodes {
		fmt.Printf("%s instance=%s ready=%t pods=%d blocker=%q\n", n.Name, n.InstanceID, n.Ready, n.Pods, n.ScaleDownBlocker)
	}
	if err := m.Cordon(ctx, "worker-1"); err != nil {
		fmt.Println(err)
	}
	fmt.Println(m.Cordon(ctx, "worker-9"))
	// Output:
	// worker-1 instance=i-0a1 ready=true pods=1 blocker=""
	// worker-2 instance=i-0a2 ready=true pods=1 blocker="pod shop/debug has no controller and EvictUnmanagedPods is off"
	// worker-3 instance=i-0a3 ready=true pods=1 blocker="pod shop/logs-5c8-k1 has node-local storage (hostPath volume \"varlog\" (/var/log))"
	// cordon node worker-9: not found
}
