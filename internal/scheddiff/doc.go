// Package scheddiff holds the differential test of node-fleet's scheduler
// view (metrics.KubeScheduler) against the real kube-scheduler: random
// clusters and pods are put before kube-scheduler v1.37.2 on a control
// plane of the test's own (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok; internal/e2e.StartCluster), and for every pod the
// scheduler leaves pending, the view's answer (a new worker in zone Z
// would take it, or not) is compared with what the scheduler does when
// such a worker is added. The package has no code of its own beyond its
// test; see TestViewAgreesWithKubeScheduler and docs/reliability.md.
package scheddiff
