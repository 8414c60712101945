#!/usr/bin/env bash
# Builds the image from the Dockerfile with Podman, and checks what it holds, where no container
# registry can be reached (our CI): the base image is made from Debian's own packages
# (debootstrap: bookworm with its Python 3.11) instead of being pulled. Built in the Docker
# format, as README says (the OCI format drops HEALTHCHECK).
#
# A container cannot be started on CI's machines (crun may not set resource limits there), so
# the image's own files are started instead: mounted, and run under chroot on a loopback port,
# its health and GraphiQL page asked for over HTTP.
#
#   sudo bash deploy/image/build.sh        # needs root, podman and debootstrap
set -euo pipefail
cd "$(dirname "$0")/../.."

image=localhost/seal-gateway:check
base=localhost/seal-gateway-base:bookworm
work=$(mktemp -d)
mounted=""
server=""
data=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    [ -n "$server" ] && wait "$server" 2>/dev/null || true
    [ -n "$data" ] && umount "$data" 2>/dev/null || true
    [ -n "$mounted" ] && podman image unmount "$image" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "image: $*" >&2; exit 1; }

echo "image: the base, from Debian's packages"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$work/rootfs" >/dev/null
ln -sf python3 "$work/rootfs/usr/bin/python"
rm -f "$work/rootfs"/var/cache/apt/archives/*.deb
tar -C "$work/rootfs" -c . | podman import -q - "$base" >/dev/null

echo "image: building"
# pip and npm inside the build trust what this machine trusts (a TLS-inspecting proxy's CA
# included); a build secret, never stored in the image
secret=()
bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$bundle" ] && secret=(--secret "id=ca_bundle,src=$bundle")
podman build -q --isolation chroot --format docker "${secret[@]}" \
    --build-arg PYTHON_IMAGE="$base" -t "$image" . >/dev/null

echo "image: checking"
health=$(podman image inspect "$image" --format '{{json .Config.Healthcheck}}')
case "$health" in *healthz*) ;; *) fail "no HEALTHCHECK in the image ($health)";; esac
user=$(podman image inspect "$image" --format '{{.Config.User}}')
[ "$user" = gateway ] || fail "runs as '$user', not gateway"

mounted=$(podman image mount "$image")
graphiql_kb=$(du -sk "$mounted/opt/graphiql" | cut -f1)
[ "$graphiql_kb" -lt 10240 ] || fail "GraphiQL's files take ${graphiql_kb} KB (only the served ones belong)"
served=$(find "$mounted/opt/graphiql" -type f | wc -l)
[ ! -e "$mounted/run/secrets/ca_bundle" ] || fail "the build's CA bundle is in the image"
[ ! -e "$mounted/usr/bin/node" ] || fail "Node.js is in the runtime image"
# the seal event log's directory (SQLite without Redis): the image's volume, the user's own
owner=$(stat -c %u "$mounted/var/lib/seal-gateway" 2>/dev/null) || fail "no /var/lib/seal-gateway"
[ "$owner" = 10001 ] || fail "/var/lib/seal-gateway belongs to uid $owner, not gateway's"
data_dir=$(podman image inspect "$image" --format '{{range .Config.Env}}{{println .}}{{end}}' \
    | sed -n 's/^SEALGW_DATA_DIR=//p')
[ "$data_dir" = /var/lib/seal-gateway ] || fail "SEALGW_DATA_DIR is '$data_dir'"
# a volume there, as a container would have
data="$mounted/var/lib/seal-gateway"
mount -t tmpfs -o size=16m tmpfs "$data"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chroot "$mounted" /usr/bin/env -i PATH=/opt/venv/bin:/usr/bin:/bin HOME=/tmp \
    SEALGW_HOST=127.0.0.1 SEALGW_PORT="$port" SEALGW_GRAPHIQL_ASSETS=/opt/graphiql \
    SEALGW_GRAPHIQL_FETCH=off SEALGW_DATA_DIR="$data_dir" \
    /opt/venv/bin/seal-gateway serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" \
        2>/dev/null && break
    sleep 0.2
done
healthz=$(python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$port/healthz').read().decode())") \
    || { cat "$work/serve.log" >&2; fail "/healthz did not answer"; }
page=$(python3 -c "
import urllib.request as u
request = u.Request('http://127.0.0.1:$port/graphql', headers={'Accept': 'text/html'})
print(u.urlopen(request).read().decode())")
case "$page" in *"/graphql/assets/graphiql@"*) ;; *) fail "the GraphiQL page does not use the image's files";; esac
[ -s "$data/events.sqlite3" ] || fail "no event log in the data directory"

size=$(podman image inspect "$image" --format '{{.Size}}')
echo "image: built in the Docker format with its health check, $((size / 1000000)) MB; GraphiQL ${graphiql_kb} KB in ${served} files; its gateway answered /healthz ($healthz) and the GraphiQL page"
