#!/bin/sh
# Mutation testing of the domain packages with gremlins, one package at a time (it is
# CPU-heavy). Go's coverage has no block for a tagless switch's case conditions nor for
# constants, so gremlins would skip those mutants as NOT COVERED (go-gremlins/gremlins#298);
# a `go` wrapper completes the coverage profile with casecover so that they are run too.
#
# Usage: scripts/mutate/mutate.sh [package dir ...]   (default: every package under domain/)
# Environment: MUTATE_WORKERS (1), MUTATE_MCOVER (95), MUTATE_EFFICACY (85: some mutants are
# equivalent, such as a boundary flipped where equality is handled before, and cannot be killed),
# MUTATE_TIMEOUT_COEFFICIENT (30: the machine is shared, a slow run is not a killed mutant),
# MUTATE_FLAGS (more gremlins flags, e.g. --dry-run for the coverage alone).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin=$(go env GOPATH)/bin
gremlins=$(command -v gremlins || true)
if [ -z "$gremlins" ]; then
	[ -x "$gobin/gremlins" ] || go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
	gremlins=$gobin/gremlins
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
go build -o "$tmp/casecover" ./scripts/mutate/casecover
realgo=$(command -v go)
cat >"$tmp/bin/go" <<WRAP
#!/bin/sh
"$realgo" "\$@" || exit \$?
prev=
for a in "\$@"; do
	if [ "\$prev" = -coverprofile ]; then exec "$tmp/casecover" "\$a" "$root"; fi
	prev=\$a
done
WRAP
chmod +x "$tmp/bin/go"

if [ $# -eq 0 ]; then
	set -- $(go list -f '{{.Dir}}' ./domain/... | sed "s|^$root/|./|")
fi
failed=
for pkg in "$@"; do
	echo "== $pkg"
	PATH="$tmp/bin:$PATH" "$gremlins" unleash --workers "${MUTATE_WORKERS:-1}" \
		--timeout-coefficient "${MUTATE_TIMEOUT_COEFFICIENT:-30}" \
		--threshold-mcover "${MUTATE_MCOVER:-95}" --threshold-efficacy "${MUTATE_EFFICACY:-85}" \
		${MUTATE_FLAGS:-} "$pkg" || failed="$failed $pkg"
done
if [ -n "$failed" ]; then
	echo "below the thresholds:$failed"
	exit 1
fi
