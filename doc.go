// Package nodefleet is the root of node-fleet, a library that scales the
// worker nodes of a K3s (or any Kubernetes) cluster on AWS EC2: cheap when
// traffic is low, fast when a flash sale arrives, and safe when something
// breaks.
//
// The parts:
//
//   - autoscaler: the core. Its Autoscaler runs ticks (lock, load,
//     observe, plan, execute, record, unlock) over small interfaces:
//     MetricSource, Policy, Locker, StateStore, FleetProvider, NodeManager,
//     Notifier, Publisher. PlanTick is the pure planner, in phases
//     (classify, recover, repair, replace, decide, constrain): every step
//     proposed, a policy's, a repair's or a replacement's, passes through
//     one ordered list of guardrails (bounded repair, instances in flight,
//     MinNodes/MaxNodes, safety mode, pending pods, cooldowns, a pause,
//     an operation in progress, the deadline), outside any policy; a
//     journaling executor carries the plan out. go doc ./autoscaler
//     explains the tick.
//   - autoscaler/fake: in-memory implementations of every interface, for
//     tests and the simulator; autoscaler/mock: gomock mocks.
//   - config: the wiring of the example programs, public so that a
//     user's own main runs them with its own policy: the settings (Load,
//     Usage, Markdown) and Build.
//   - decision: policies. Threshold is the original design's (pending pods
//     +2, CPU above 70% +1, quiet -1); FirstOf and Max compose policies.
//   - metrics: MetricSources on Prometheus and the Kubernetes API.
//   - state: the lock and the state on DynamoDB.
//   - ec2fleet: the FleetProvider on EC2 (launch templates, spot with
//     on-demand fallback, zones); the fleet is only the instances it
//     launched (the cluster's tag and managed-by).
//   - drain: the NodeManager on client-go (cordon, evict with
//     PodDisruptionBudgets, delete).
//   - kube: the Kubernetes API calls drain and metrics make, as a small
//     interface with a REST client of only the three API groups they use
//     (a small Lambda function); kube/clientset adapts a client-go
//     clientset to it.
//   - notify: SNS notifications and CloudWatch metrics.
//   - examples: programs that wire the parts: simulate (start here),
//     custompolicy, and the Lambda and daemon programs.
//
// Start with `go run ./examples/simulate`, then read autoscaler's Example
// and examples/custompolicy.
package nodefleet
