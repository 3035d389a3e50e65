# Sourced by every integration script: the project, its Python, counting checks, waiting,
# and a simulator on the host's loopback.
PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${TRACKER_IT_CACHE:-/var/cache/tracker-it}
PY=${PYTHON:-python3}
passed=0 failed=0
# A command that stops the script says which one and where: a run must never end with
# nothing printed, as one in CI did. (Commands inside functions speak for themselves.)
trap 'rc=$?; echo "$(basename "$0"): line $LINENO: exit $rc from: $BASH_COMMAND" >&2' ERR
check() { if "$@"; then passed=$((passed + 1)); echo "ok: $CHECK"; else failed=$((failed + 1)); echo "FAILED: $CHECK"; fi; }
wait_for() { # seconds, command...
  local until=$((SECONDS + $1)); shift
  while [ $SECONDS -lt $until ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}
host_tools() { # command:package...: installs what is missing on the host. The integration
  # scripts run at once on the suite's two workers, so installs take turns (flock), and
  # apt waits for dpkg's lock rather than failing while another apt holds it.
  local tool
  for tool in "$@"; do
    command -v "${tool%%:*}" >/dev/null && continue
    flock /run/lock/tracker-it-apt.lock sh -c 'command -v "$1" >/dev/null || {
      apt-get -o DPkg::Lock::Timeout=600 update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$2"; }' \
      _ "${tool%%:*}" "${tool##*:}"
  done
}
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_sim() { # log file: sets PORT and SIM_PID once the simulator accepts connections
  PORT=$(free_port)
  "$PY" -m tracker.cli sim --port "$PORT" --open-orders 30 --rate 5 >"$1" 2>&1 &
  SIM_PID=$!
  wait_for 30 "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT))" \
    || { echo "$(basename "$0"): the simulator did not start:"; cat "$1"; exit 1; }
}
debian_root() { # dir, packages (comma-separated): a cached Debian bookworm root filesystem.
  # debootstrap writes its errors to stdout, so its output goes to a log that is shown when
  # it fails; a mirror's passing hiccup gets a second try.
  local dir=$1 log=$1.log try
  [ -x "$dir/usr/bin/python3" ] && return 0
  mkdir -p "$(dirname "$dir")"
  for try in 1 2; do
    rm -rf "$dir.tmp"
    if debootstrap --variant=minbase --include="$2" bookworm "$dir.tmp" >"$log" 2>&1; then
      mv "$dir.tmp" "$dir"; return 0
    fi
    echo "$(basename "$0"): debootstrap of $dir failed (try $try); its log ends:" >&2
    tail -n 20 "$log" >&2
  done
  return 1
}
