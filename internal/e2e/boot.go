package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// ClusterOptions set StartClusterWith's control plane.
type ClusterOptions struct {
	// ReadyDelay holds back, that long after it registers, the Ready
	// condition of a Node labelled LabelBooting: the kubelet's and K3s's
	// agent start, compressed [0: Ready at once, as every other Node].
	// Until then the Node is NotReady and carries the
	// node.kubernetes.io/not-ready:NoSchedule taint, so that no pod is
	// bound to it (see bootingNotReadyPolicy).
	ReadyDelay time.Duration
}

// LabelBooting, "true" on a new worker's Node (the joiner's, Karpenter's
// NodePool template's), makes kwok hold its Ready back for
// ClusterOptions.ReadyDelay.
const LabelBooting = "e2e.node-fleet.io/booting"

// nodeBootStage is kwok's node-initialize stage (the file initialize)
// for Nodes labelled LabelBooting, played delay after they register
// (their creationTimestamp: kwok restarts a stage's delay whenever the
// Node changes, and Karpenter, the lifecycle controller and the autoscaler
// change a booting Node; whole seconds, as the timestamp has): it
// outweighs the stage itself, which matches them too.
func nodeBootStage(t testing.TB, initialize string, delay time.Duration) string {
	t.Helper()
	b, err := os.ReadFile(initialize)
	if err != nil {
		t.Fatal(err)
	}
	var stage map[string]any
	if err := yaml.Unmarshal(b, &stage); err != nil {
		t.Fatalf("%s: %v", initialize, err)
	}
	spec, _ := stage["spec"].(map[string]any)
	sel, _ := spec["selector"].(map[string]any)
	exprs, _ := sel["matchExpressions"].([]any)
	if spec == nil || sel == nil {
		t.Fatalf("%s: no spec.selector", initialize)
	}
	stage["metadata"] = map[string]any{"name": "e2e-node-boot"}
	sel["matchExpressions"] = append(exprs, map[string]any{"key": `.metadata.labels["` + LabelBooting + `"]`, "operator": "In", "values": []any{"true"}})
	spec["delay"] = map[string]any{
		// The fallback, should the expression give nothing.
		"durationMilliseconds": delay.Milliseconds(),
		// An RFC 3339 time is a delay until then.
		"durationFrom": map[string]any{"jq": map[string]any{
			"expression": fmt.Sprintf(".metadata.creationTimestamp | fromdate + %d | todate", int64(delay.Round(time.Second).Seconds())),
		}},
	}
	spec["weight"] = 10000
	out, err := yaml.Marshal(stage)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// bootingNotReadyPolicy is the name of the admission policy that gives a
// booting Node the Ready condition a kubelet registers its Node with.
const bootingNotReadyPolicy = "e2e-booting-node-registers-not-ready"

// bootingNotReady is a MutatingAdmissionPolicy (and its binding) that
// creates every Node labelled LabelBooting, and without a Ready condition,
// with Ready False (reason KubeletNotReady), as a kubelet registers its
// Node: its first POST carries the status of its first sync, NotReady
// until the container runtime and the network are up
// (pkg/kubelet/kubelet_node_status.go, initialNode calls setNodeStatus).
//
// The NoSchedule taint then comes from the control plane as in a real
// cluster: the API server's TaintNodesByCondition admission plugin taints
// every new Node node.kubernetes.io/not-ready, and the node lifecycle
// controller keeps the taint while Ready is False and removes it when
// kwok's boot stage makes the Node Ready. A Node registered without any
// Ready condition (as the joiner and Karpenter's kwok provider create
// theirs) has its taint removed by the lifecycle controller at once: it
// maps conditions to taints and no condition maps to no taint
// (doNoScheduleTaintingPass), and the scheduler binds pods to the NotReady
// Node. Setting the condition at admission, rather than in a kwok stage
// after the Node exists, leaves no moment without it: one mechanism for
// node-fleet's and Karpenter's Nodes alike.
func bootingNotReady() (*admissionv1.MutatingAdmissionPolicy, *admissionv1.MutatingAdmissionPolicyBinding) {
	fail := admissionv1.Fail
	policy := &admissionv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: bootingNotReadyPolicy},
		Spec: admissionv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionv1.MatchResources{
				ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelBooting: "true"}},
				ResourceRules: []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"nodes"}},
				}}},
			},
			MatchConditions: []admissionv1.MatchCondition{{
				Name:       "no-ready-condition",
				Expression: `!has(object.status) || !has(object.status.conditions) || !object.status.conditions.exists(c, c.type == "Ready")`,
			}},
			FailurePolicy:      &fail,
			ReinvocationPolicy: admissionv1.NeverReinvocationPolicy,
			Mutations: []admissionv1.Mutation{{
				PatchType: admissionv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionv1.ApplyConfiguration{Expression: `Object{status: Object.status{conditions: [Object.status.conditions{
  type: "Ready", status: "False", reason: "KubeletNotReady",
  message: "container runtime network not ready: the e2e harness holds a booting node NotReady"}]}}`},
			}},
		},
	}
	binding := &admissionv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: bootingNotReadyPolicy},
		Spec:       admissionv1.MutatingAdmissionPolicyBindingSpec{PolicyName: bootingNotReadyPolicy},
	}
	return policy, binding
}

// registerBootingNotReady installs bootingNotReady and waits until the
// API server applies it (a dry-run Node comes back NotReady).
func (c *Cluster) registerBootingNotReady(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	policy, binding := bootingNotReady()
	adm := c.Admin.AdmissionregistrationV1()
	if _, err := adm.MutatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("admission policy %s: %v", policy.Name, err)
	}
	if _, err := adm.MutatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("admission policy binding %s: %v", binding.Name, err)
	}
	probe := workerNode("e2e-booting-probe", "2", "3891Mi", map[string]string{LabelBooting: "true"}, nil)
	var last error
	c.wait(t, "kube-apiserver", 30*time.Second, func() bool {
		n, err := c.Admin.CoreV1().Nodes().Create(ctx, probe.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if last = err; err != nil {
			return false
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionFalse
			}
		}
		return false
	})
	if last != nil {
		t.Fatalf("the booting nodes' admission policy: %v", last)
	}
}
