"""The processes one test started, stopped together whatever happens, their logs shown after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.daemon import Daemon
from harness.processes import tail
from harness.sim import Sim


class Lab:
    """What one test started; `close` stops it all (daemons first) and shows the logs,
    which pytest prints only when the test failed."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.sims: list[Sim] = []
        self.daemons: list[Daemon] = []

    def sim(self, *args: str) -> Sim:
        sim = Sim(self.workdir, *args, name=f"sim{len(self.sims) + 1}")
        self.sims.append(sim)
        return sim

    def daemon(self, sim: Sim, **kwargs: Any) -> Daemon:
        kwargs.setdefault("name", f"daemon{len(self.daemons) + 1}")
        daemon = Daemon(self.workdir, sim, **kwargs)
        self.daemons.append(daemon)
        return daemon

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.close()
        for sim in self.sims:
            sim.close()
        for daemon in self.daemons:
            print(f"--- {daemon.log.name} (last lines) ---\n{daemon.tail(60)}")
        for sim in self.sims:
            print(f"--- {sim.log.name} (last lines) ---\n{tail(sim.log, 20)}")
