// Command helm pins Helm v4 so that `go mod tidy` in this module records
// every module the helm command needs. The binary itself is built from
// helm.sh/helm/v4/cmd/helm by scripts/svc/helm.sh (cached in .cache/bin),
// for the chart's lint, render and install tests; this program does
// nothing.
package main

import (
	_ "helm.sh/helm/v4/pkg/cmd"
)

func main() {}
