// Command daemon is node-fleet as a long-running process, for running the
// autoscaler inside the cluster (deploy/helm/node-fleet, or the manifests
// of deploy/daemon) or beside it: the stock daemon of package run/daemon,
// whose doc says what it does and how to build one of your own.
package main

import "github.com/node-fleet/node-fleet/run/daemon"

// version is what -version prints; builds set it with
// -ldflags='-X main.version=...' (deploy/image does).
var version string

func main() {
	daemon.Main(daemon.Options{Version: version})
}
