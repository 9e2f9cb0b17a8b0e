// Command kube pins the Kubernetes control-plane commands that the
// integration tests run (kube-apiserver, kube-controller-manager,
// kube-scheduler) so that `go mod tidy` in this module records every module
// they need. The binaries themselves are built from k8s.io/kubernetes/cmd/...
// by scripts/svc/kube.sh; this program does nothing.
package main

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {}
