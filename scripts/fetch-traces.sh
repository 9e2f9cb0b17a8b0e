#!/usr/bin/env bash
# Downloads the measured traces the simulator's benchmark and trace-replay
# tests read (see ../shared/traces/PROVENANCE.md) from their public
# sources, pinned to a commit, and checks each file's SHA-256. Files
# already present with the right checksum are kept. The traces never go
# into the repository: they are written to $NODEFLEET_TRACES, else
# ../shared/traces beside the repository.
#
#   scripts/fetch-traces.sh            # fetch what is missing
#   scripts/fetch-traces.sh -check     # only check what is there
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${NODEFLEET_TRACES:-../shared/traces}
check_only=false
case "${1:-}" in
-check) check_only=true ;;
"") ;;
*) echo "usage: $0 [-check]" >&2; exit 2 ;;
esac

wc98=https://raw.githubusercontent.com/nimamahmoudi/worldcup98-dataset/82460213f0d5a86fa57b6d4b0b5f260e606e713b
nab=https://raw.githubusercontent.com/numenta/NAB/ea702d75cc2258d9d7dd35ca8e5e2539d71f3140

# name, source, SHA-256 (of the files as published at those commits).
files=(
	"wc98_requests_per_minute.csv $wc98/invocation_count.csv d05038f98af96f6fab054f90445e02a68f37fd00a79c23f45b9b48e5ec91fb8e"
	"wc98-repo-LICENSE $wc98/LICENSE a5c5a7a66a585ceedd3664226380b0ec9ded8a62df837fc199d747d96b286128"
	"wc98-ITA-terms.html $wc98/WorldCup.html afeb7721e45e77f70c1d6e223b0020752406b76cba700c4f76126fd824623336"
	"nab_elb_request_count_8c0756.csv $nab/data/realAWSCloudwatch/elb_request_count_8c0756.csv 74c26574a01ca9fb89dddb5021e2e13c3a93eb25dc640438a9acb1ceb00f1021"
	"nab_twitter_volume_GOOG.csv $nab/data/realTweets/Twitter_volume_GOOG.csv 3a39cc23d1ff6a0f234b55298d0c46c21d2e94ddb81a0dad9e1e46e3aaa9ec90"
	"NAB-LICENSE.txt $nab/LICENSE.txt 0a0b4d0b10cb1f7ed9ab2993ef93defc03447e6eba9daca1315dd32dae4877e3"
	"NAB-data-README.md $nab/data/README.md 1d32963e44a52323b44affff374a1222ebe5ef19ef8f7f6c6fd7a747aa52db30"
)

sha() { sha256sum "$1" | cut -d' ' -f1; }
fetch() {
	if command -v curl >/dev/null; then
		curl -fsSL --retry 3 -o "$2" "$1"
	else
		wget -q -O "$2" "$1"
	fi
}

$check_only || mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
for entry in "${files[@]}"; do
	read -r name url want <<<"$entry"
	if [ -f "$dest/$name" ] && [ "$(sha "$dest/$name")" = "$want" ]; then
		echo "ok       $dest/$name"
		continue
	fi
	if $check_only; then
		echo "MISSING  $dest/$name (or its checksum differs)" >&2
		bad=1
		continue
	fi
	if ! fetch "$url" "$tmp/$name"; then
		echo "FAILED   $url" >&2
		bad=1
		continue
	fi
	got=$(sha "$tmp/$name")
	if [ "$got" != "$want" ]; then
		echo "CHECKSUM $url: got $got, want $want; not installed" >&2
		bad=1
		continue
	fi
	mv "$tmp/$name" "$dest/$name"
	echo "fetched  $dest/$name"
done
if [ "$bad" != 0 ]; then
	echo "fetch-traces: some traces are missing or wrong (see above)" >&2
	exit 1
fi
