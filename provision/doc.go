// Package provision holds what a cluster needs from AWS and Kubernetes
// before node-fleet can run on it, as data with one source: the IAM
// policies of the Lambda function's and the daemon's roles, the RBAC of the
// autoscaler's identity, and the workers' user data (the join script with
// the cluster's values). The Pulumi stack (deploy/) and the operator
// command's setup (examples/nodefleet) both take them from here, so that a
// cluster made by hand gets exactly the rights and the join of a deployed
// one.
//
// It is a top-level package rather than part of deploy/ because deploy/ is
// a module of its own (Pulumi's dependencies stay out of the library's),
// and rather than part of config because it has no dependency beyond the
// standard library, which the deploy module can import cheaply.
//
// worker-join.sh is the join script itself (the deploy's launch templates
// take it from here too). rbac.yaml is a copy of deploy/daemon/rbac.yaml,
// which the daemon's manifests and chart are checked against (a Go package
// can embed only files below its own directory); a test fails when the two
// differ.
package provision
