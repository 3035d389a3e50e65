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
  # The cache holds a tree only once it is complete: each try builds in a fresh directory of
  # its own beside it and is renamed into place only after debootstrap succeeded, so a reader
  # never takes a half-made tree and no try builds on what an earlier one left. Runs from
  # other clones share the cache, so building takes turns (flock on dir.lock); a run that
  # waited finds the tree its predecessor made.
  local dir=$1
  [ -x "$dir/usr/bin/python3" ] && return 0
  mkdir -p "$(dirname "$dir")"
  debian_root_locked "$dir" "$2" 9>"$dir.lock"
}
debian_root_locked() { # dir, packages; fd 9 open on dir.lock
  # debootstrap writes its errors to stdout, so its output goes to a log whose end is shown
  # when it fails; a mirror's passing hiccup (a truncated Release file, say) gets two more
  # tries after a pause.
  local dir=$1 log=$1.log try tmp left tries=3
  flock -w 3600 9 || { echo "$(basename "$0"): no turn to build $dir within an hour" >&2; return 1; }
  [ -x "$dir/usr/bin/python3" ] && return 0
  # Whatever a killed or failed run left is never reused: the lock is held, so no live run
  # owns these. The name older scripts built in is left to them unless it is hours old.
  for left in "$dir".tmp.* "$dir".discarded.*; do
    if [ -e "$left" ]; then discard_tree "$left"; fi
  done
  if [ -n "$(find "$dir.tmp" -maxdepth 0 -mmin +120 2>/dev/null)" ]; then discard_tree "$dir.tmp"; fi
  if [ -e "$dir" ]; then discard_tree "$dir"; fi # not complete, or the check above had passed
  for try in $(seq "$tries"); do
    if [ "$try" -gt 1 ]; then sleep $((10 * (try - 1))); fi
    tmp=$(mktemp -d "$dir.tmp.XXXXXX") || return 1
    chmod 0755 "$tmp" # it becomes the image's /, which mktemp would leave readable by root only
    if debootstrap --variant=minbase --include="$2" bookworm "$tmp" >"$log" 2>&1 &&
      [ -x "$tmp/usr/bin/python3" ]; then
      # One rename completes the cache. It fails only if a run of an older script, which
      # takes no lock, completed it meanwhile: that tree is as good.
      if mv -T "$tmp" "$dir" 2>/dev/null || [ -x "$dir/usr/bin/python3" ]; then
        discard_tree "$tmp"
        return 0
      fi
      echo "$(basename "$0"): could not rename $tmp to $dir" >&2
    else
      echo "$(basename "$0"): debootstrap of $dir failed (try $try of $tries); its log ends:" >&2
      tail -n 20 "$log" >&2
    fi
    discard_tree "$tmp"
  done
  echo "$(basename "$0"): no Debian root filesystem in $dir after $tries tries" >&2
  return 1
}
discard_tree() { # dir: removes a tree a failed build left, whatever it holds
  # debootstrap binds /proc, /sys and /dev into its target and may leave them mounted when
  # it fails: those go first, deepest first, or rm -rf would reach into the host's. A tree
  # that still cannot be removed is renamed aside, so that nothing builds on it.
  local dir=$1 mnt aside
  while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  done < <(awk -v under="$(realpath -m "$dir")/" 'index($2, under) == 1 { print $2 }' \
    /proc/self/mounts | sort -r)
  [ -e "$dir" ] || return 0
  # A second pass after a pause, for a process of the failed build still writing into it.
  rm -rf "$dir" 2>/dev/null || { sleep 2; rm -rf "$dir"; } || true
  [ -e "$dir" ] || return 0
  aside=$(mktemp -u "$dir.discarded.XXXXXX")
  if mv -T "$dir" "$aside" 2>/dev/null; then
    echo "$(basename "$0"): could not remove $dir; moved aside to $aside" >&2
  else
    echo "$(basename "$0"): could not remove $dir, nor move it aside" >&2
  fi
  return 0
}
