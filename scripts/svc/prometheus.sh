# Service plugin of scripts/test.sh (sourced): the real Prometheus server and
# node_exporter, from Debian. The Go tests start their own instances on free
# loopback ports with generated configs (internal/promtest), so that a test
# can stop Prometheus half-way; this plugin installs the packages, checks
# that the binaries run and exports their paths. A prometheus service that
# Debian may have started on install (ports 9090/9100) is neither used nor
# in the way.
APT_PACKAGES+=(prometheus prometheus-node-exporter)

svc_prometheus_install() {
	local bin
	for bin in /usr/bin/prometheus /usr/bin/prometheus-node-exporter; do
		if [ ! -x "$bin" ]; then
			echo "$bin is missing: the Debian packages prometheus and prometheus-node-exporter did not install it" >&2
			return 1
		fi
	done
}

svc_prometheus_start() {
	local bin out
	for bin in /usr/bin/prometheus /usr/bin/prometheus-node-exporter; do
		if ! out=$("$bin" --version 2>&1); then
			echo "$bin does not run: $out" >&2
			return 1
		fi
		echo "${out%%$'\n'*}"
	done
	export NODEFLEET_PROMETHEUS_BIN=/usr/bin/prometheus
	export NODEFLEET_NODE_EXPORTER_BIN=/usr/bin/prometheus-node-exporter
}
