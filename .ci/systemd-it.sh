#!/usr/bin/env bash
# Boots Debian's systemd in systemd-nspawn with the project installed as the shipped unit,
# and checks what an operator relies on. Needs root and the Debian mirror (machine.sh).
# Prints "systemd-it: N passed, M failed" and exits non-zero on any failure.
set -euo pipefail
source "$(dirname "$0")/machine.sh"
trap cleanup_machine EXIT

# The project and its dependencies as wheels, installed offline into a venv in the rootfs.
"$PY" -m pip wheel -q -w "$ROOT/wheels" "$PROJECT[sim]" 2>&1 | grep -v -i warning || true
chroot "$ROOT" python3 -m venv /opt/tracker
chroot "$ROOT" /opt/tracker/bin/pip install -q --no-index --find-links /wheels \
  'open-order-tracker[sim]'

PORT=$(free_port)
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

boot_machine
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
CHECK="the daemon runs with the unit's limit on open files (LimitNOFILE)"
check machine_exec grep -Eq '^Max open files +4096 +4096 ' "/proc/${main:-0}/limits"
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
