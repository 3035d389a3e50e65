#!/usr/bin/env bash
# Boots Debian's systemd in systemd-nspawn with the project installed as the shipped unit,
# and checks what an operator relies on. Needs root and the Debian mirror; the root
# filesystem is cached outside the clone ($TRACKER_IT_CACHE) so later runs take seconds.
# Prints "systemd-it: N passed, M failed" and exits non-zero on any failure.
set -euo pipefail
PROJECT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${TRACKER_IT_CACHE:-/var/cache/tracker-it}
BASE=$CACHE/systemd-bookworm
PY=${PYTHON:-python3}
passed=0 failed=0
check() { if "$@"; then passed=$((passed + 1)); echo "ok: $CHECK"; else failed=$((failed + 1)); echo "FAILED: $CHECK"; fi; }

export DEBIAN_FRONTEND=noninteractive
for tool in debootstrap:debootstrap systemd-nspawn:systemd-container; do
  command -v "${tool%%:*}" >/dev/null || { apt-get update -qq; apt-get install -y -qq "${tool##*:}"; }
done
if [ ! -x "$BASE/usr/bin/python3" ]; then
  rm -rf "$BASE.tmp"; mkdir -p "$CACHE"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,procps,python3,python3-venv,util-linux \
    bookworm "$BASE.tmp" >/dev/null
  mv "$BASE.tmp" "$BASE"
fi
ROOT=$(mktemp -d /var/tmp/tracker-it.XXXXXX)
MACHINE=tracker-it-$$
NSPAWN_PID=
cleanup() {
  [ -n "$NSPAWN_PID" ] && { machine_exec systemctl poweroff >/dev/null 2>&1 || true; sleep 1; kill "$NSPAWN_PID" 2>/dev/null || true; wait "$NSPAWN_PID" 2>/dev/null || true; }
  rm -rf "$ROOT"
}
trap cleanup EXIT
cp -a "$BASE/." "$ROOT/"

# The project and its dependencies as wheels, installed offline into a venv in the rootfs.
"$PY" -m pip wheel -q -w "$ROOT/wheels" "$PROJECT[sim]" 2>&1 | grep -v -i warning || true
chroot "$ROOT" python3 -m venv /opt/tracker
chroot "$ROOT" /opt/tracker/bin/pip install -q --no-index --find-links /wheels \
  'bitmart-order-tracker[sim]'

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
install -D -m 0644 "$PROJECT/systemd/tracker.sysusers" "$ROOT/usr/lib/sysusers.d/tracker.conf"
install -D -m 0644 "$PROJECT/systemd/tracker.service" "$ROOT/etc/systemd/system/tracker.service"
install -D -m 0644 /dev/stdin "$ROOT/etc/systemd/system/tracker.service.d/test.conf" <<CONF
[Service]
WatchdogSec=4s
RestartSec=1s
CONF
install -D -m 0644 /dev/stdin "$ROOT/etc/tracker/tracker.toml" <<TOML
symbols = ["BTC_USDT", "ETH_USDT"]
rest_url = "http://127.0.0.1:$PORT"
ws_url = "ws://127.0.0.1:$PORT/user?protocol=1.1"
TOML
install -d -m 0700 "$ROOT/etc/credstore"
printf '6591f7c2491db0a23a1d8ad6911c825e' > "$ROOT/etc/credstore/tracker.api_key"
printf '8c08d9d5c3d15b105dbddaf96e427ac6' > "$ROOT/etc/credstore/tracker.api_secret"
printf 'mymemo' > "$ROOT/etc/credstore/tracker.api_memo"
chmod 0600 "$ROOT"/etc/credstore/*
# The exchange, inside the same machine, as a plain unit.
install -D -m 0644 /dev/stdin "$ROOT/etc/systemd/system/tracker-sim.service" <<UNIT
[Unit]
Description=exchange simulator for the integration test
Before=tracker.service
[Service]
ExecStart=/opt/tracker/bin/tracker sim --port $PORT --open-orders 30 --rate 5
[Install]
WantedBy=multi-user.target
UNIT
chroot "$ROOT" systemctl enable tracker.service tracker-sim.service >/dev/null 2>&1
chroot "$ROOT" sh -c 'groupadd -r tracker 2>/dev/null; useradd -m -G tracker reader; useradd -m outsider' || true

CHECK="systemd-analyze verify prints nothing"
out=$(systemd-analyze verify --man=no --root="$ROOT" /etc/systemd/system/tracker.service 2>&1 || true)
check test -z "$out"
[ -z "$out" ] || echo "$out"
for unit in tracker.service tracker@.service; do
  cp "$PROJECT/systemd/$unit" "$ROOT/tmp/${unit/@/@it}"
  CHECK="exposure of $unit <= 1.5"
  check systemd-analyze security --offline=yes --threshold=15 "$ROOT/tmp/${unit/@/@it}" >/dev/null
done

systemd-nspawn -q -D "$ROOT" --boot --register=no --keep-unit -M "$MACHINE" >"$ROOT.console" 2>&1 &
NSPAWN_PID=$!
machine_pid() { pgrep -P "$NSPAWN_PID" | head -n1; }
machine_exec() { nsenter -t "$(machine_pid)" -a -- "$@"; }
for _ in $(seq 100); do [ -n "$(machine_pid)" ] && break; sleep 0.2; done
timeout 90 nsenter -t "$(machine_pid)" -a -- systemctl is-system-running --wait >/dev/null 2>&1 || true
wait_for() { # seconds, command...
  local until=$((SECONDS + $1)); shift
  while [ $SECONDS -lt $until ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}
prop() { machine_exec systemctl show -p "$1" --value tracker.service; }
live() { prop StatusText | grep -q '^live, '; }

CHECK="the unit is active"
check wait_for 40 machine_exec systemctl is-active tracker.service
CHECK="STATUS shows the book as live"
check wait_for 40 live
CHECK="reload is answered and the unit stays active"
check sh -c "nsenter -t $(machine_pid) -a -- systemctl reload tracker.service && sleep 1 && nsenter -t $(machine_pid) -a -- systemctl is-active tracker.service >/dev/null"
CHECK="a reader in the group reads the book"
check machine_exec runuser -u reader -- /opt/tracker/bin/tracker status --db /var/lib/tracker/orders.db
CHECK="a user outside the group cannot"
check sh -c "! nsenter -t $(machine_pid) -a -- runuser -u outsider -- /opt/tracker/bin/tracker orders --db /var/lib/tracker/orders.db >/dev/null 2>&1"
main=$(prop MainPID)
CHECK="a frozen daemon is restarted by the watchdog"
# Never "kill -STOP 0": that would freeze this script's own process group.
if [ "${main:-0}" -gt 1 ] 2>/dev/null; then
  machine_exec kill -STOP "$main"
  check wait_for 30 sh -c "[ \"\$(nsenter -t $(machine_pid) -a -- systemctl show -p NRestarts --value tracker.service)\" -ge 1 ]"
else
  check false
fi
CHECK="it comes back live after the restart"
check wait_for 40 live
CHECK="stop exits 0"
machine_exec systemctl stop tracker.service
check test "$(prop ExecMainStatus)" = 0
if [ "$failed" -ne 0 ]; then
  machine_exec journalctl -u tracker.service --no-pager -n 60 || true
fi
echo "systemd-it: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
