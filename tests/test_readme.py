"""The README's commands and the deployment guide's, run as written, so that none can rot.

Every ```sh and ```python block of README.md and docs/deployment.md runs somewhere: the
quick start, the everyday commands and the Python reader here, against the demo as `make
demo` starts it; the deployment blocks, which need root and a machine of their own, in the
.ci scripts that `tests/test_ops_integration.py` runs, and here their own extraction is run
to show that it finds exactly those blocks. A new block that nothing runs fails
`test_every_block_runs`; sample output is fenced as ```text and runs nowhere.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import pty
import queue
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from harness import Lab, clean_env, differences, eventually, read_book
from harness.profiles import BINANCE, BITMART_V2, OKX, Profile
from simulator.state import DEMO_ACCOUNT

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DEPLOYMENT = REPO / "docs" / "deployment.md"
CONFIGURATION = REPO / "docs" / "configuration.md"
VENV = Path(sys.executable).parent.parent
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.M | re.S)
RUNNABLE = frozenset({"sh", "shell", "bash", "python"})
# The blocks run here, named by how they begin.
TWO_COMMANDS = "make demo"
EVERYDAY = "export BOOK="
READER = "import os\n"
# Your own account's run line, one per venue.
FOREGROUND = {"bitmart": ".venv/bin/tracker run --symbols ",
              "binance": ".venv/bin/tracker run --venue binance ",
              "okx": ".venv/bin/tracker run --venue okx "}
LIVE_LINE = re.compile(r"^\d\d:\d\d:\d\d LIVE since ")
VERDICT = re.compile(r"^the book matches the exchange: \d+ open orders, all exact$", re.M)


def default_sigint() -> None:
    """Ctrl-C must reach what a README line starts, even when this suite itself was started
    with SIGINT ignored (in the background of a shell without job control)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def fenced(doc: Path = README) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return FENCE.findall(doc.read_text())


def runnable(doc: Path = README) -> list[str]:
    return [body for lang, body in fenced(doc) if lang in RUNNABLE]


def block(start: str) -> str:
    found = [body for body in runnable() if body.startswith(start)]
    assert len(found) == 1, f"README: {len(found)} runnable blocks begin with {start!r}"
    return found[0]


def extract(script: str, out: Path) -> dict[str, str]:
    """What a .ci script's own extraction (its `<<'PY'` part) takes out of the deployment
    guide."""
    code = re.search(r"<<'PY'\n(.*?)\nPY\n", (REPO / script).read_text(), re.S)
    assert code, f"{script}: no extraction found"
    out.mkdir()
    subprocess.run([sys.executable, "-", str(DEPLOYMENT), str(out)], input=code[1], text=True,
                   check=True, timeout=30)
    return {path.name: path.read_text() for path in out.iterdir()}


def run_by_ci(tmp_path: Path) -> list[str]:
    walk = extract(".ci/readme-walkthrough.sh", tmp_path / "walkthrough")
    box = extract(".ci/container-it.sh", tmp_path / "container")
    # The walkthrough splits the systemd block where it edits tracker.toml, as a user does.
    return [walk["1a.sh"] + walk["1b.sh"], walk["2.sh"], walk["3.sh"], walk["4.sh"],
            walk["5.sh"], box["run.sh"], box["orders.sh"]]


def here(tmp_path: Path) -> Path:
    """A directory laid out as a clone after `make demo` and `make test`: `.venv/bin` is this
    test run's (the suite may run from another environment, e.g. `.ci/run`'s), and every
    install (the two extras, and `make clients`' clients) is marked done: this run already
    has what they install."""
    venv = tmp_path / "clone" / ".venv"
    if not venv.exists():
        venv.mkdir(parents=True)
        (venv / "bin").symlink_to(VENV / "bin")
        for extra in ("demo", "test", "clients"):
            (venv / f".installed-{extra}").touch()
    return venv.parent


def make_env(tmp_path: Path, makeflags: str = "") -> dict[str, str]:
    """The environment for a README `make` line, with that clone's `.venv`."""
    env = {k: v for k, v in clean_env().items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return env | {"VENV": str(here(tmp_path) / ".venv"), "TMPDIR": str(tmp_path),
                  "MAKEFLAGS": f"--no-print-directory {makeflags}"}


def test_every_block_runs(tmp_path: Path) -> None:
    for doc in (README, DEPLOYMENT):
        languages = {lang for lang, _ in fenced(doc)}
        # An unlabelled fence is neither run nor declared sample output.
        assert languages <= RUNNABLE | {"text"}, (doc, languages)
    run_here = [block(start) for start in (TWO_COMMANDS, EVERYDAY, READER,
                                           *FOREGROUND.values())]
    assert sorted(runnable()) == sorted(run_here)  # the README's: none left unrun
    ci = run_by_ci(tmp_path)
    for body in runnable(DEPLOYMENT):
        assert body in ci, f"a block of docs/deployment.md nothing runs:\n{body}"
    assert len(runnable(DEPLOYMENT)) == len(ci)


def test_the_ci_scripts_run_the_deployment_blocks_whole(tmp_path: Path) -> None:
    blocks = runnable(DEPLOYMENT)
    # systemd, its readers, the container's two, PostgreSQL and its reader, the backup
    assert len(blocks) == 7
    assert run_by_ci(tmp_path) == [blocks[0], blocks[1], blocks[6], blocks[4], blocks[5],
                                   blocks[2], blocks[3]]


def commands(body: str) -> list[str]:
    """The two-commands block's lines; an indented line continues the comment above."""
    return [line for line in body.splitlines() if not line.startswith(" ")]


def test_make_test_runs_ruff_and_the_whole_suite(tmp_path: Path) -> None:
    # Run for real, it would run this suite from inside itself: `make -n` shows what it runs.
    line = commands(block(TWO_COMMANDS))[1]
    assert line.startswith("make test ")
    done = subprocess.run(["bash", "-c", line], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env=make_env(tmp_path, "-n"))
    assert done.returncode == 0, done
    bin_ = here(tmp_path) / ".venv" / "bin"
    assert done.stdout.splitlines() == [
        f"{bin_}/ruff check tracker tests bench simulator harness",
        f"{bin_}/lint-imports", f"{bin_}/pytest -q"]


def on_a_terminal() -> None:
    """The child's own session, with the terminal on its stdin as its controlling terminal,
    whose foreground group gets the SIGINT that Ctrl-C (0x03 typed there) sends."""
    default_sigint()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Demo:
    """`make demo`, as written, started from a terminal with its output piped: plain lines,
    read as they come. Ctrl-C is typed on that terminal, which sends SIGINT to its
    foreground process group, as a shell's job control leaves it."""

    def __init__(self, tmp_path: Path) -> None:
        line = commands(block(TWO_COMMANDS))[0]
        assert line.startswith("make demo ")
        self.terminal, slave = pty.openpty()
        self.proc = subprocess.Popen(
            ["bash", "-c", line], cwd=REPO, stdin=slave, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
            env=make_env(tmp_path), preexec_fn=on_a_terminal)
        os.close(slave)
        self.seen: list[str] = []
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout or ():
            self.lines.put(line.rstrip("\n"))

    def until(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.seen.append(self.lines.get(timeout=0.5))
            except queue.Empty:
                assert self.proc.poll() is None, "\n".join(self.seen)
                continue
            if match := pattern.match(self.seen[-1]):
                return match
        raise AssertionError(f"no {pattern.pattern!r} within {timeout} s:\n" +
                             "\n".join(self.seen))

    def ctrl_c(self) -> str:
        """Ctrl-C typed on the terminal; all they printed."""
        if self.proc.poll() is None:
            os.write(self.terminal, b"\x03")
        try:
            self.proc.wait(timeout=40)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
            os.close(self.terminal)
        time.sleep(0.2)  # the reader thread drains the last lines
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "\n".join(self.seen)


def last_seq(book: Path) -> int:
    db = sqlite3.connect(f"file:{book}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("SELECT coalesce(max(seq), 0) FROM order_events").fetchone()[0])
    finally:
        db.close()


def first_seqs(book: Path, n: int) -> list[int]:
    db = sqlite3.connect(f"file:{book}?mode=ro", uri=True, timeout=5)
    try:
        return [seq for (seq,) in db.execute("SELECT seq FROM order_events ORDER BY seq "
                                             "LIMIT ?", (n,))]
    finally:
        db.close()


def test_the_quick_start_and_the_everyday_commands_as_written(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    try:
        book = Path(demo.until(re.compile(r"^book: (.+)$"), 60)[1])
        assert book.is_relative_to(tmp_path)  # a temporary file, as the README says
        demo.until(LIVE_LINE, 60)
        # The one edit: the path this demo printed, in the line that names the book.
        name_it, rest = block(EVERYDAY).split("\n", 1)
        example = re.fullmatch(r"export BOOK=(\S+) +# .*", name_it)
        assert example, name_it
        name_it = name_it.replace(example[1], shlex.quote(str(book)), 1)
        env = clean_env()
        assert "BOOK" not in env

        everyday = subprocess.run(["bash", "-e", "-c", f"{name_it}\n{rest}"],
                                  cwd=here(tmp_path), capture_output=True, text=True,
                                  timeout=60, env=env)
        assert everyday.returncode == 0, everyday
        out = everyday.stdout.splitlines()
        assert re.match(r"live since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; ", out[0]), out
        table = out.index(next(line for line in out if line.startswith("order_id  ")))
        count = next(i for i, line in enumerate(out) if line.endswith(" open orders"))
        rows = [line.split()[1] for line in out[table + 1:count]]
        assert rows and set(rows) == {"BTC_USDT"}, out
        assert out[count] == f"{len(rows)} open orders"
        csv = out.index(next(line for line in out if line.startswith("order_id,symbol,")))
        assert all(re.match(r"\d{18},[A-Z]+_[A-Z]+,", row) for row in out[csv + 1:csv + 3])
        status = json.loads(out[csv + 3])
        assert status["live"] is True and status["running"] is True, status
        changes = [json.loads(line) for line in out[csv + 4:]]
        # The journal from its start: the seed's first rows, ids as strings.
        assert [(c["event"], c["seq"]) for c in changes] == [
            ("change", seq) for seq in first_seqs(book, 3)], changes
        assert all(re.fullmatch(r"\d{18}", c["order_id"]) for c in changes), changes

        before = last_seq(book)
        # Saved as the README says, and run as it says, in the shell that named the book.
        (here(tmp_path) / "reader.py").write_text(block(READER))
        run_it = re.search(r"`(\.venv/bin/python reader\.py)` in that shell", README.read_text())
        assert run_it, "README: how to run the Python reader"
        reader = subprocess.run(["bash", "-e", "-c", f"{name_it}\n{run_it[1]}"],
                                cwd=here(tmp_path), capture_output=True, text=True,
                                timeout=30, env=env)
        assert reader.returncode == 0, reader
        lines = reader.stdout.splitlines()
        assert re.fullmatch(r"current \d+ open BTC_USDT orders", lines[0]), lines
        read_up_to = int(lines[1].removeprefix("journal read up to seq "))
        assert before <= read_up_to <= last_seq(book), (before, read_up_to)
    finally:
        out = demo.ctrl_c()
    assert VERDICT.search(out), out
    # Ctrl-C is a clean stop through make too, as the README says: exit 0, not 130.
    assert demo.proc.returncode == 0, out
    assert f"tracker exited with 0; the book went with the demo's directory ({book.parent})" \
        in out, out
    assert not book.parent.exists()


@pytest.mark.parametrize("profile", [BITMART_V2, BINANCE, OKX], ids=str)
def test_the_daemon_in_the_foreground_as_written(tmp_path: Path, lab: Lab,
                                                 profile: Profile) -> None:
    sim = lab.sim("--open-orders", "5")
    where = here(tmp_path)
    # The keys in the environment, as the README asks; the one edit, as in the .ci
    # scripts: the exchange is the simulator.
    env = clean_env() | profile.keys(DEMO_ACCOUNT) | {
        "TRACKER_REST_URL": sim.rest_url, "TRACKER_WS_URL": sim.urls[profile.ws_key]}
    status = re.search(r"`(\.venv/bin/tracker status --db orders\.db)` in another shell",
                       README.read_text())
    assert status, "README: the status command after the foreground block"
    log = tmp_path / "foreground.err"
    with log.open("w") as err:
        proc = subprocess.Popen(["bash", "-c", block(FOREGROUND[profile.venue])], cwd=where,
                                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env,
                                start_new_session=True, preexec_fn=default_sigint)

    def live() -> None:
        done = subprocess.run(shlex.split(status[1]), cwd=where, capture_output=True,
                              text=True, timeout=30, env=clean_env())
        assert done.returncode == 0 and done.stdout.startswith("live since "), done

    symbols = re.search(r"--symbols (\S+)", block(FOREGROUND[profile.venue]))
    assert symbols, block(FOREGROUND[profile.venue])

    def exact() -> None:
        book = read_book(where / "orders.db")
        problems = differences(book, profile.keyed(sim.truth()),
                               tuple(symbols[1].split(",")))
        assert not problems and book.open_ids, problems[:5]

    try:
        eventually(live, 60, "status says live", interval=0.3, context=log.read_text)
        eventually(exact, 30, "the book equals the exchange", interval=0.3)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()
    assert read_book(where / "orders.db").state["status"] == "stopped"


def test_the_configuration_table_is_the_settings_table() -> None:
    """docs/configuration.md's table is made from `Config`'s fields (name, default, help), so
    a setting added, renamed or re-defaulted there and not here fails."""
    from tracker.config import Config, settings_table

    text = CONFIGURATION.read_text()
    assert settings_table() in text
    documented = re.findall(r"^\| `(\w+)` \|", text, re.M)
    settings = [f.name for f in dataclasses.fields(Config) if f.metadata]  # not the secrets
    assert [name for name in documented if name in settings] == settings


# What a newcomer reads in three minutes: what it is, the two commands, their own account,
# reading the book, where the rest is. It was 477 dense lines, with one's own account at
# line 197.
NEWCOMER_SECTIONS = ["Two commands on a fresh machine", "Your own account", "Reading the book",
                     "Where the rest is", "Changes"]
README_LINES_MAX = 200


def test_the_readme_is_what_a_newcomer_needs_and_its_links_lead_somewhere() -> None:
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= README_LINES_MAX, f"{len(lines)} lines: move the detail to docs/"
    sections = [line[3:] for line in lines if line.startswith("## ")]
    assert sections == NEWCOMER_SECTIONS, sections
    assert lines.index("## Your own account") < 60
    headings: dict[Path, set[str]] = {}
    for target, anchor in re.findall(r"\]\(((?:docs/)?[\w.-]+\.md)(?:#([\w-]+))?\)", text):
        path = REPO / target
        assert path.is_file(), f"README links to {target}, which does not exist"
        if anchor:
            found = headings.setdefault(path, {
                re.sub(r"[^\w -]", "", h.lstrip("#").strip().lower()).replace(" ", "-")
                for h in path.read_text().splitlines() if h.startswith("#")})
            assert anchor in found, f"README links to {target}#{anchor}, a heading it lacks"
