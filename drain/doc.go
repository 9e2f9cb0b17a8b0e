// Package drain is node-fleet's autoscaler.NodeManager on client-go: it
// lists the cluster's Nodes with what a scale-down needs to know about
// them, cordons and uncordons them, drains them and deletes them. It works
// on K3s and on any conformant cluster.
//
// Config.Client is a kube.Interface, the few calls the Manager makes:
// kube.NewForConfig makes one from a connection (a REST client that links
// only the API groups it uses, as the Lambda function needs), and
// kube/clientset adapts a client-go clientset that a program already has.
//
// # Draining
//
// Drain follows the semantics of `kubectl drain` (k8s.io/kubectl/pkg/drain),
// written here in a few hundred lines of client-go so that programs using
// it, such as a Lambda function, do not carry kubectl. Every pod on the node
// goes through one filter chain, also used by ListNodes so that a node it
// reports as removable can be drained:
//
//   - finished pods (Succeeded, Failed) are not evicted, but what they
//     wrote to a hostPath volume is still on the node: such a pod blocks
//     (below) until it is deleted, unless the volume is declared safe to
//     lose;
//   - pods already being deleted are not evicted again, only waited for;
//   - mirror pods (static pods, annotation kubernetes.io/config.mirror) and
//     pods of an existing DaemonSet are left alone: they die with the node;
//   - a pod annotated cluster-autoscaler.kubernetes.io/safe-to-evict or
//     node-fleet.io/safe-to-evict "false" blocks the drain; "true" makes the
//     pod evictable even with local storage or without a controller;
//   - a pod with an emptyDir volume blocks unless Config.DeleteEmptyDirData;
//   - a pod with node-local storage blocks, whatever the settings: a
//     hostPath volume, or a PersistentVolumeClaim (or generic ephemeral
//     volume) bound to a PersistentVolume that lives on one node (a local
//     or hostPath source, or a required node affinity on
//     kubernetes.io/hostname or metadata.name, as K3s's default local-path
//     StorageClass makes them). Terminating the node would destroy the
//     data. A volume pinned only to a zone (EBS) is not node-local. A
//     claim that is missing or unbound blocks too: it cannot be checked;
//   - local volumes (of either kind) that the pod names in the annotation
//     cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes
//     ("scratch,cache") do not count;
//   - a pod without a controller (or whose DaemonSet is gone) blocks unless
//     Config.EvictUnmanagedPods, because nothing would recreate it;
//   - every other pod is evicted through the policy/v1 Eviction API.
//
// A blocked drain evicts nothing. An eviction refused with HTTP 429
// (a PodDisruptionBudget allows no disruption now) is retried every
// Config.RetryInterval until Config.Timeout; pods are never deleted behind
// a budget's back and never forced. Drain then waits until the evicted pods
// are gone, or until their deletion time (the moment their grace period
// runs out) has passed.
//
// # Where things are
//
// ListNodes also says where each node is and what would be lost with it:
// its zone (Node.Zone), its node-fleet.io/cluster label (Node.Cluster),
// and its node-local data (Node.LocalData): the PersistentVolumes pinned
// to it by node affinity on its hostname (K3s's local-path, local PVs)
// that a claim is bound to (a pod's or one no pod uses now) or was
// (Released, its data kept), and the hostPath volumes of its pods,
// whatever the state of those pods. A pod the taint manager marked
// Terminating on a NotReady node still has its volume there, so such data
// blocks the node's removal although the filter chain would let the pod
// go. DaemonSet and mirror pods' hostPath volumes are the node's own
// plumbing and do not count, nor do volumes a pod's annotations declare
// safe to lose.
//
// # Permissions
//
// The identity the Manager uses needs, cluster-wide: nodes get, list, patch
// and delete; pods get and list; pods/eviction create; daemonsets (apps) get;
// poddisruptionbudgets (policy) list; persistentvolumeclaims and
// persistentvolumes get and list (the volumes once per PinnedData, that
// is every tick; claims and volumes once per ListNodes with a node, and
// once per Drain). metrics.KubeScheduler, read with the same
// identity, also lists daemonsets, and the claims and volumes when a
// pending pod has a claim. The ClusterRole in deploy/server-init.sh
// grants exactly this, and a test applies it to the real API server.
package drain
