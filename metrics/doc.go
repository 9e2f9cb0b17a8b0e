// Package metrics provides the autoscaler's MetricSources: where the load
// numbers of a Snapshot come from.
//
//   - Prometheus runs PromQL queries (CPU, memory, pending pods, API
//     latency, and named queries of your own that land in
//     Snapshot.Custom) against a Prometheus server, concurrently, each with
//     its own timeout. Whatever it cannot read for sure (server unreachable,
//     timeout, error, empty result, NaN or infinity, a stale answer, more
//     series than one) is marked missing with an error wrapping
//     autoscaler.ErrNoData, never reported as 0: an idle-looking zero would
//     make the autoscaler scale in.
//   - KubePending counts unschedulable pods through the Kubernetes API, and
//     OverridePending combines it with another source (usually Prometheus)
//     so that PendingPods comes from the API and everything else from the
//     other source.
//   - KubeScheduler reads the scheduler's view (capacity.SchedulerView)
//     in one pass over the Kubernetes API per tick: the unschedulable
//     pods with their requests (PodRequests) and whether a new worker
//     could take them, the new worker's template (learnt from Ready
//     workers of the instance type, else the type's size minus
//     K3sReservation) with its DaemonSet overhead, the new workers the
//     placeable pods need and the workers' demand. OverrideScheduler
//     combines it with another source as OverridePending does; it
//     supersedes KubePending where it can be configured.
//   - Merge combines sources: the standard one with one of your own (a
//     custom metric, say), so that the custom one can take part in every
//     decision; autoscaler/fake.Static returns a fixed snapshot without
//     linking any of this package (demos, the simulator, tests).
//
// # Pending pods: Prometheus or the Kubernetes API?
//
// A scrape-based count (kube-state-metrics' kube_pod_status_phase, read by
// Prometheus) lags the cluster by a scrape interval of kube-state-metrics
// plus Prometheus' own scrape interval, and counts every pod in phase
// Pending, including pods already scheduled that are still pulling their
// images. The Kubernetes API answers at once and KubePending counts only
// pods the scheduler has marked unschedulable (condition PodScheduled
// False, reason Unschedulable): exactly the pods that more nodes would
// help. Use KubePending (through OverridePending) when the autoscaler can
// reach the API server (the daemon in the cluster, a Lambda function in the
// cluster's VPC with a service-account token), and set
// Config.PendingPods.Disabled on the Prometheus source so that it does not
// run a query nobody reads. Use the Prometheus query when only Prometheus
// is reachable, or when kube-state-metrics is already the source of truth
// for your dashboards and alerts and a lag of a minute is acceptable.
package metrics
