// Package kube is the part of the Kubernetes API that node-fleet uses, as
// a small interface of its own (Interface), with an implementation over
// client-go's REST client that knows only the three API groups node-fleet
// reads and writes: core/v1, policy/v1 and apps/v1 (NewForConfig).
//
// It exists to keep the Lambda function small. Every typed client of
// client-go imports k8s.io/client-go/kubernetes/scheme, whose init
// registers all of Kubernetes' API groups (56 packages of k8s.io/api), and
// kubernetes.Interface names a client for each of them: either way the
// linker keeps every type of every group, with its serializers, 7.4 MB of
// the function's 16.8 MB of machine code (docs/benchmarks.md, "The Lambda
// function's size"). drain and metrics' Kubernetes sources take an
// Interface instead, so a program that builds its client with NewForConfig
// links only the groups it uses.
//
// A program that already has a client-go clientset passes it through
// package kube/clientset, which adapts a kubernetes.Interface to this one
// (that package imports the clientset; this one must not).
//
// It also holds the few rules that turn API objects into the autoscaler's
// terms and that drain and metrics both need (so that neither imports the
// other): PodRequests and NodeAllocatable (what the scheduler counts, on
// k8s.io/component-helpers' rule), ApartGroup (replicas kept apart by
// anti-affinity) and VolumeZone (the zone a PersistentVolume lives in).
//
// Errors are the API server's, as client-go returns them: a Get or Delete
// of an object that is gone returns an error for which
// k8s.io/apimachinery/pkg/api/errors.IsNotFound is true, an eviction that
// a PodDisruptionBudget refuses one for which IsTooManyRequests is true.
package kube
