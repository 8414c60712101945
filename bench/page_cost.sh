#!/usr/bin/env bash
# CPU per request of a page of 20 seals and a page of 100, from one gateway process over the
# peers' 云银签 stub (../shared/peers; its Python env as bench/compare.sh installs it), with
# wrk -t2 -c32, twice each. Loopback only.
#   bash bench/page_cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=../shared/peers
STUB_PY=${PEERS_CACHE:-${TMPDIR:-/tmp}/seal-peers}/venv/bin/python
read -r KEY DIGEST < <(.venv/bin/python -c "from gateway.access.callers import new_key; print(*new_key())")
(cd "$PEERS" && exec "$STUB_PY" -m uvicorn upstream_stub:app --port 18090 --log-level warning) &
STUB=$!
SEALGW_YUNYIN_BASE_URL=http://127.0.0.1:18090 SEALGW_YUNYIN_APP_ID=bench-app \
SEALGW_YUNYIN_APP_SECRET=bench-secret SEALGW_YUNYIN_USER_ID=20001 SEALGW_PORT=18093 \
SEALGW_LOG_LEVEL=WARNING SEALGW_API_KEYS="bench:admin:$DIGEST" \
SEALGW_RATE_LIMIT=100000000/minute SEALGW_GRAPHIQL_FETCH=off \
  .venv/bin/seal-gateway serve --workers 1 >/dev/null 2>&1 &
GW=$!
trap 'kill $GW $STUB 2>/dev/null || true' EXIT
sleep 3
LUA=$(mktemp)
for N in 20 100 20 100; do
  QUERY="query SealList { seals(first: $N) { totalCount edges { node { vendorId name code"
  QUERY="$QUERY bizType status image { url } createdAt authorizationCount } } } }"
  BODY=$(python3 -c "import json,sys; print(json.dumps({'query': sys.argv[1]}))" "$QUERY")
  printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer %s"\n' \
    "$BODY" "$KEY" > "$LUA"
  wrk -t2 -c32 -d3s -s "$LUA" http://127.0.0.1:18093/graphql >/dev/null
  BEFORE=$(awk '{print $14+$15}' "/proc/$GW/stat")
  OUT=$(wrk -t2 -c32 -d8s -s "$LUA" http://127.0.0.1:18093/graphql)
  AFTER=$(awk '{print $14+$15}' "/proc/$GW/stat")
  REQUESTS=$(echo "$OUT" | awk '/requests in/ {print $1}')
  RATE=$(echo "$OUT" | awk '/Requests\/sec/ {print $2}')
  echo "page of $N: $RATE req/s, CPU $(( (AFTER - BEFORE) * 10000 / REQUESTS )) us/request"
done
rm -f "$LUA"
