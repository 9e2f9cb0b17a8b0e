#!/usr/bin/env bash
# The cost benchmark (make bench): replays the shared real traces through
# the shipped policies (threshold, reactive, predictive at the programs'
# defaults, lambda and daemon mode) plus a static fleet and the oracle,
# with the simulator's real-cluster model (sim.DefaultModel,
# printed with every table), and prints one table per trace (cost, unserved
# demand beyond the static fleet's, both against reactive, and churn), the
# predictive policy's forecast skill (MASE at the shipped lead, beside the
# naive forecast's error), and a sweep of each policy's main setting whose
# cost-against-unserved chart is written to docs/frontier-<trace>.png.
# The snapshots carry the workload's load (-load, as the programs'
# LOAD_QUERY gives it), which only the predictive policy reads: it
# forecasts the load beside the pods' demand, and its MASE on each is
# printed. Then it benchmarks one tick of the autoscaler on the in-memory
# parts.
# The output is committed, with this command, in docs/benchmarks.md.
#
# Arguments, if any, name the traces to run (wc98, nab-elb, goog; default
# all three) and skip the tick benchmark: scripts/bench.sh goog. The
# simulations run under nice: the machine is usually shared.
#
# The traces are read from $NODEFLEET_TRACES, else ../shared/traces beside
# the repository; they are never copied into it (scripts/fetch-traces.sh
# downloads them). BENCH_MODEL=ideal runs the old model without lags;
# BENCH_FRONTIER=0 skips the frontier sweeps and their charts (the tables
# and forecast lines only: about a third of the time);
# BENCH_POOLS=1 adds the fleet-diversity tables of docs/fleet-diversity.md.
set -euo pipefail
cd "$(dirname "$0")/.."
TRACES=${NODEFLEET_TRACES:-../shared/traces}
MODEL=${BENCH_MODEL:-real}
for f in wc98_requests_per_minute.csv nab_elb_request_count_8c0756.csv nab_twitter_volume_GOOG.csv; do
	if [ ! -r "$TRACES/$f" ]; then
		echo "bench: $TRACES/$f is missing: run scripts/fetch-traces.sh, or set NODEFLEET_TRACES to the directory of the traces" >&2
		exit 1
	fi
done
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/simulate" ./examples/simulate
began=$(date +%s)

# The ideal model has no HPA whose input the load would be.
LOAD=; [ "$MODEL" = real ] && LOAD=-load
frontier() { [ "$MODEL" = real ] && [ "${BENCH_FRONTIER:-1}" != 0 ] && echo "-frontier docs/frontier-$1.png"; }
want() { [ -z "$ARGS" ] || [[ " $ARGS " == *" $1 "* ]]; }
ARGS="$*"
sim() { nice -n 5 "$bin/simulate" "$@"; }

if want wc98; then
echo "## WC98, the 1998 World Cup (10 June to 12 July 1998, the final included), peak 20 nodes"
echo
# shellcheck disable=SC2046
sim -compare $LOAD -model "$MODEL" -trace "$TRACES/wc98_requests_per_minute.csv" -from 1998-06-10 -to 1998-07-13 -peak-nodes 20 $(frontier wc98)
echo
fi
if want nab-elb; then
echo "## NAB ELB request count (2014-04-10 to 2014-04-24, 5-minute steps), peak 20 nodes"
echo
# shellcheck disable=SC2046
sim -compare $LOAD -model "$MODEL" -trace "$TRACES/nab_elb_request_count_8c0756.csv" -peak-nodes 20 $(frontier nab-elb)
echo
fi
if want goog; then
echo "## NAB Twitter volume of GOOG (2015-02-26 to 2015-04-22, 5-minute steps), peak 20 nodes"
echo
# shellcheck disable=SC2046
sim -compare $LOAD -model "$MODEL" -trace "$TRACES/nab_twitter_volume_GOOG.csv" -peak-nodes 20 $(frontier goog)
echo
fi
echo "(the simulations took $(( $(date +%s) - began )) s)"
if [ "${BENCH_POOLS:-0}" = 1 ]; then
	# The fleet-diversity comparison of docs/fleet-diversity.md (about 8
	# more minutes on 2 cores): one type in two zones against ten types,
	# under independent pool shortages, 5 seeds a row.
	began=$(date +%s)
	echo
	echo "## Fleet diversity (docs/fleet-diversity.md)"
	echo
	"$bin/simulate" -pools compare -seeds 5 -trace "$TRACES/wc98_requests_per_minute.csv" -from 1998-06-10 -to 1998-07-13 -peak-nodes 20
	echo
	"$bin/simulate" -pools compare -seeds 5 -trace "$TRACES/nab_elb_request_count_8c0756.csv" -peak-nodes 20
	echo
	echo "(the pool comparisons took $(( $(date +%s) - began )) s)"
fi
[ -n "$ARGS" ] && exit 0
echo
echo "## One tick on the in-memory parts"
echo
go test -run '^$' -bench 'BenchmarkTick' -benchtime 2s ./autoscaler
