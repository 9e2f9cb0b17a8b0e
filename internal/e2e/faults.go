package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/node-fleet/node-fleet/notify"
)

// SetNodesDown makes kwok report the named Nodes NotReady (LabelDown),
// their Ready condition's last transition at since; SetNodesUp ends it.
func SetNodesDown(ctx context.Context, kube kubernetes.Interface, names []string, since time.Time) error {
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"true"},"annotations":{%q:%q}}}`, LabelDown, AnnotationDownSince, since.UTC().Format(time.RFC3339))
	return patchNodes(ctx, kube, names, patch)
}

// SetNodesUp lets kwok report the named Nodes Ready again. First their
// NotReady condition's last transition moves to now, and only once kwok
// shows that on every one of them do they turn Ready: SetNodesDown's
// backdated transition is earlier than the Nodes' creation, which a
// real outage's is not, so a node coming back a moment before its peers
// would not count as coming back from the same outage, and the peers
// still NotReady, NotReady "for minutes", would be repaired in between.
func SetNodesUp(ctx context.Context, kube kubernetes.Interface, names []string) error {
	now := time.Now().UTC().Truncate(time.Second)
	if err := patchNodes(ctx, kube, names, fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, AnnotationDownSince, now.Format(time.RFC3339))); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range names {
		for {
			node, err := kube.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("node %s: %w", n, err)
			}
			if readySince(node).Equal(now) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s: kwok did not move its NotReady transition to %s", n, now)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:null},"annotations":{%q:null}}}`, LabelDown, AnnotationDownSince)
	return patchNodes(ctx, kube, names, patch)
}

// readySince is the last transition of n's Ready condition (zero without
// one).
func readySince(n *corev1.Node) time.Time {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func patchNodes(ctx context.Context, kube kubernetes.Interface, names []string, patch string) error {
	for _, n := range names {
		if _, err := kube.CoreV1().Nodes().Patch(ctx, n, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("patch node %s: %w", n, err)
		}
	}
	return nil
}

// LocalPathClass is K3s's default StorageClass, whose provisioner makes a
// hostPath PersistentVolume pinned to the node its first pod runs on.
const LocalPathClass = "local-path"

// LedgerTaint is the key of a NoSchedule taint the ledger's pod tolerates
// (CreateLedger): a test that puts it on the ledger's node keeps every
// other pod off that node.
const LedgerTaint = "node-fleet.e2e/ledger"

// Ledger is a StatefulSet of one replica whose claim is bound to a
// PersistentVolume as K3s's local-path provisioner makes it: a hostPath
// directory on one node, with a required node affinity to that node's
// hostname.
type Ledger struct {
	Namespace, Name string
	// Node is the node its volume is pinned to; Volume the volume's name.
	Node, Volume string
}

// Pod is the name of the ledger's one pod.
func (l Ledger) Pod() string { return l.Name + "-0" }

// CreateLedger creates, in ns, the local-path StorageClass, a
// PersistentVolume on node (what the provisioner would have made when the
// pod was first scheduled there) pre-bound to the StatefulSet's claim,
// and the StatefulSet. Its pod then runs on node and nowhere else; it
// tolerates LedgerTaint.
func CreateLedger(ctx context.Context, kube kubernetes.Interface, ns, name, node string) (Ledger, error) {
	l := Ledger{Namespace: ns, Name: name, Node: node, Volume: "pvc-" + name + "-" + randomHex(4)}
	wait := storagev1.VolumeBindingWaitForFirstConsumer
	del := corev1.PersistentVolumeReclaimDelete
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: LocalPathClass}, Provisioner: "rancher.io/local-path",
		VolumeBindingMode: &wait, ReclaimPolicy: &del}
	if _, err := kube.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		return l, fmt.Errorf("storage class: %w", err)
	}
	size := resource.MustParse("1Gi")
	class := LocalPathClass
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: l.Volume},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: "/var/lib/rancher/k3s/storage/" + l.Volume + "_" + ns + "_data-" + l.Pod()}},
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "data-" + l.Pod()},
			PersistentVolumeReclaimPolicy: del,
			StorageClassName:              class,
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}},
		},
	}
	if _, err := kube.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		return l, fmt.Errorf("persistent volume: %w", err)
	}
	one := int32(1)
	labels := map[string]string{"app": name}
	ss := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &one, ServiceName: name,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: LedgerTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
					Containers: []corev1.Container{{Name: name, Image: "registry.example/shop/" + name,
						Resources:    corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/ledger"}}}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: &class,
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}}},
			}},
		},
	}
	if _, err := kube.AppsV1().StatefulSets(ns).Create(ctx, ss, metav1.CreateOptions{}); err != nil {
		return l, fmt.Errorf("statefulset: %w", err)
	}
	return l, nil
}

// Alerts reads the autoscaler's notifications from the SQS queue
// subscribed to its SNS topic (Stack.AlertQueue), as an operator's
// subscription gets them, and keeps them.
type Alerts struct {
	sqs   *sqs.Client
	queue string

	mu  sync.Mutex
	got []notify.Message
}

// NewAlerts reads queue with c.
func NewAlerts(c *sqs.Client, queue string) *Alerts { return &Alerts{sqs: c, queue: queue} }

// Poll receives what the queue holds now (deleting it from the queue) and
// returns every message received so far.
func (a *Alerts) Poll(ctx context.Context) ([]notify.Message, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		out, err := a.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(a.queue), MaxNumberOfMessages: 10})
		if err != nil {
			return nil, fmt.Errorf("receive from %s: %w", a.queue, err)
		}
		if len(out.Messages) == 0 {
			return append([]notify.Message(nil), a.got...), nil
		}
		for _, m := range out.Messages {
			// SNS wraps the notification in its envelope.
			var envelope struct{ Message string }
			var msg notify.Message
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &envelope); err != nil {
				return nil, fmt.Errorf("SNS envelope: %w", err)
			}
			if err := json.Unmarshal([]byte(envelope.Message), &msg); err != nil {
				return nil, fmt.Errorf("notification: %w", err)
			}
			a.got = append(a.got, msg)
			if _, err := a.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(a.queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return nil, fmt.Errorf("delete from %s: %w", a.queue, err)
			}
		}
	}
}
