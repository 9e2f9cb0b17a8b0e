#!/usr/bin/env bash
# check-mocks.sh: fail when the committed gomock mocks (autoscaler/mock)
# differ from what their //go:generate directive produces from the current
# interfaces. It regenerates into a temporary directory and diffs; the tree
# is not touched. Run by scripts/test.sh; on its own: scripts/check-mocks.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=autoscaler/mock
directive=$(grep -h '^//go:generate ' "$dir"/*.go)
if [ "$(printf '%s\n' "$directive" | wc -l)" -ne 1 ]; then
	echo "check-mocks: expected exactly one //go:generate directive in $dir, found:" >&2
	printf '%s\n' "$directive" >&2
	exit 1
fi
# The directive's command, with its -destination moved to the temporary
# directory (mockgen writes nothing that depends on the destination: the
# directive turns the command comment off and names -self_package).
read -r -a cmd <<<"${directive#//go:generate }"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=""
for i in "${!cmd[@]}"; do
	case "${cmd[i]}" in
	-destination=*)
		dest=${cmd[i]#-destination=}
		cmd[i]="-destination=$tmp/$dest"
		;;
	esac
done
if [ -z "$dest" ]; then
	echo "check-mocks: the //go:generate directive in $dir has no -destination=FILE" >&2
	exit 1
fi
(cd "$dir" && "${cmd[@]}")
if ! diff -u "$dir/$dest" "$tmp/$dest"; then
	cat >&2 <<MSG

check-mocks: $dir/$dest is out of date with autoscaler/interfaces.go (diff above:
committed, then regenerated). Regenerate and commit it:

	go generate ./$dir/
MSG
	exit 1
fi
echo "check-mocks: $dir/$dest is up to date"
