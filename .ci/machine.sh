# Sourced by the scripts that boot Debian's systemd in systemd-nspawn: the cached root
# filesystem, booting a throwaway copy of it and running commands inside (checks.sh counts).
# The root filesystem is cached outside the clone ($TRACKER_IT_CACHE), so later runs take
# seconds; the first needs the Debian mirror.
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
BASE=$CACHE/systemd-bookworm

export DEBIAN_FRONTEND=noninteractive
host_tools debootstrap:debootstrap systemd-nspawn:systemd-container
debian_root "$BASE" systemd,systemd-sysv,dbus,procps,python3,python3-venv,util-linux

# A fresh machine: a copy of the cached root filesystem, removed on exit.
ROOT=$(mktemp -d /var/tmp/tracker-it.XXXXXX)
MACHINE=tracker-it-$$
NSPAWN_PID=
cp -a "$BASE/." "$ROOT/"
machine_pid() { pgrep -P "$NSPAWN_PID" | head -n1; }
machine_exec() { nsenter -t "$(machine_pid)" -a -- "$@"; }
cleanup_machine() {
  [ -n "$NSPAWN_PID" ] && { machine_exec systemctl poweroff >/dev/null 2>&1 || true; sleep 1; kill "$NSPAWN_PID" 2>/dev/null || true; wait "$NSPAWN_PID" 2>/dev/null || true; }
  rm -rf "$ROOT" "$ROOT.console"
}
# Boots the machine on the host's network (so it reaches a simulator on the host's
# loopback) and waits until its systemd has finished starting up.
boot_machine() {
  systemd-nspawn -q -D "$ROOT" --boot --register=no --keep-unit -M "$MACHINE" >"$ROOT.console" 2>&1 &
  NSPAWN_PID=$!
  for _ in $(seq 100); do [ -n "$(machine_pid)" ] && break; sleep 0.2; done
  timeout 90 nsenter -t "$(machine_pid)" -a -- systemctl is-system-running --wait >/dev/null 2>&1 || true
}
