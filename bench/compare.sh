#!/usr/bin/env bash
# ../shared/peers/compare.sh (this gateway beside GraphQL Mesh and a minimal strawberry gateway,
# over one REST stub) for the gateway as it is now: with an API key of its own, a rate limit far
# above what wrk sends, and its queries from bench/peers/ (cursors in the current format).
# Any variable compare.sh reads passes through, e.g. WORKERS=2 PROJECT_ARGS="--workers 2".
#
# It runs a temporary copy of ../shared/peers with one line of bench.sh mended: there, the
# `${3:+wrk.headers["Authorization"] = "$3"}` inside a heredoc loses its quotes, so wrk's Lua
# fails whenever PROJECT_AUTH is set. The copy is removed afterwards; shared/ is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r KEY DIGEST < <(.venv/bin/python -c "from gateway.callers import new_key; print(*new_key())")
PEERS=$(mktemp -d)
trap 'rm -rf "$PEERS"' EXIT
cp -r ../shared/peers/. "$PEERS/"
# shellcheck disable=SC2016  # the replacement is bash for bench.sh, expanded there
sed -i 's|^\${3:+wrk.headers\["Authorization"\] = "\$3"}$|$([ -n "${3:-}" ] \&\& printf '"'"'wrk.headers["Authorization"] = "%s"'"'"' "$3")|' \
  "$PEERS/bench.sh"
grep -q 'printf .wrk.headers\["Authorization"\]' "$PEERS/bench.sh" || {
  echo "bench/compare.sh: bench.sh changed; check the Authorization line by hand" >&2
  exit 2
}
export PROJECT_AUTH="Bearer $KEY"
export PROJECT_ENV="SEALGW_API_KEYS=bench:admin:$DIGEST SEALGW_RATE_LIMIT=100000000/minute ${PROJECT_ENV:-}"
export PROJECT_QUERIES="$PWD/bench/peers"
# as many worker processes as the peers get (serve's own default is one per core)
export PROJECT_ARGS="--workers ${WORKERS:-1} ${PROJECT_ARGS:-}"
"$PEERS/compare.sh"
