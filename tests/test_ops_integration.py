"""The shipped systemd unit and container image, proven on the real things.

Each runs a script in .ci/ that boots Debian's systemd in systemd-nspawn (the unit, and the
deployment guide's steps, docs/deployment.md, followed as written), or follows its container
section with the docker CLI against podman.
They need root and the Debian mirror, and are skipped, with the reason printed, only on a
machine that cannot run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CI = Path(__file__).resolve().parent.parent / ".ci"
# One after another, on one worker: they build and boot from the same cached root
# filesystems, and each wants the machine's cores while it builds.
pytestmark = pytest.mark.xdist_group("machines")


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (debootstrap, systemd-nspawn, podman)"
    if not shutil.which("apt-get"):
        return "needs a Debian machine (apt-get) to install debootstrap and podman"
    return None


def run_script(name: str) -> None:
    reason = unavailable()
    if reason:
        print(f"{name}: skipped: {reason}")
        pytest.skip(reason)
    done = subprocess.run(["bash", str(CI / name)], capture_output=True, text=True,
                          timeout=900, env=os.environ | {"PYTHON": sys.executable})
    print(done.stdout[-12000:], done.stderr[-4000:])
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-4000:]
    assert " 0 failed" in done.stdout


def test_systemd_unit_on_real_systemd() -> None:
    run_script("systemd-it.sh")


def test_container_image_with_podman() -> None:
    run_script("container-it.sh")


def test_readme_deployment_section_as_written() -> None:
    run_script("readme-walkthrough.sh")
