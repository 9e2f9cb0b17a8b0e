#!/usr/bin/env bash
# The cost benchmark (make bench): replays the shared real traces through
# every policy of the benchmark with the simulator and prints one table per
# trace, then benchmarks one tick of the autoscaler on the in-memory parts.
# The tables are committed, with this command, in docs/benchmarks.md.
#
# The traces are read from $NODEFLEET_TRACES, else ../shared/traces beside
# the repository; they are never copied into it.
set -euo pipefail
cd "$(dirname "$0")/.."
TRACES=${NODEFLEET_TRACES:-../shared/traces}
for f in wc98_requests_per_minute.csv nab_elb_request_count_8c0756.csv; do
	if [ ! -r "$TRACES/$f" ]; then
		echo "bench: $TRACES/$f is missing: set NODEFLEET_TRACES to the directory of the shared traces" >&2
		exit 1
	fi
done
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/simulate" ./examples/simulate

echo "## WC98, the 1998 World Cup (10 June to 12 July 1998, the final included), peak 20 nodes"
echo
"$bin/simulate" -compare -trace "$TRACES/wc98_requests_per_minute.csv" -from 1998-06-10 -to 1998-07-13 -peak-nodes 20
echo
echo "## NAB ELB request count (2014-04-10 to 2014-04-24, 5-minute steps), peak 20 nodes"
echo
"$bin/simulate" -compare -trace "$TRACES/nab_elb_request_count_8c0756.csv" -peak-nodes 20
echo
echo "## One tick on the in-memory parts"
echo
go test -run '^$' -bench 'BenchmarkTick' -benchtime 2s ./autoscaler
