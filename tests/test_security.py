"""Security properties that hold for the product as shipped: the book is not world
readable, secrets stay out of argv, and TLS verification cannot be switched off."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from harness import CREDENTIALS, Lab

TRACKER = Path(__file__).resolve().parent.parent / "tracker"


def test_the_book_and_its_wal_files_have_no_world_access(lab: Lab) -> None:
    sim = lab.sim("--open-orders", "5", "--rate", "20")
    daemon = lab.daemon(sim).start()
    daemon.wait_live()
    files = [daemon.db, Path(f"{daemon.db}-wal"), Path(f"{daemon.db}-shm")]
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & stat.S_IRWXO == 0, f"{path.name} is {oct(mode)}"
    # Secrets come from the environment or files, never the command line.
    cmdline = Path(f"/proc/{daemon.pid}/cmdline").read_bytes()
    for secret in CREDENTIALS.values():
        assert secret.encode() not in cmdline


def test_no_code_path_turns_tls_verification_off() -> None:
    risky = re.compile(r"verify\s*=|CERT_NONE|check_hostname|_create_unverified_context"
                       r"|ssl\s*=\s*False")
    found = [f"{path.relative_to(TRACKER)}:{n}: {line.strip()}"
             for path in sorted(TRACKER.rglob("*.py")) if "simulator" not in path.parts
             for n, line in enumerate(path.read_text().splitlines(), 1) if risky.search(line)]
    assert found == []
