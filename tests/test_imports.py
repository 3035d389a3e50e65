"""The import graph as it runs: what a fresh interpreter loads for a module (a venue's
protocol loads nothing of the daemon, the simulator only each venue's protocol and signing,
the pure core no transport), and no circle anywhere. The layers themselves are
import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

import simulator


def loaded_modules(*modules: str, prefix: str = "tracker") -> set[str]:
    """The modules starting with `prefix` a fresh interpreter holds after importing
    `modules`."""
    code = (f"import sys\nimport {', '.join(modules)}\n"
            f"print('\\n'.join(m for m in sys.modules if m.startswith({prefix!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    return set(done.stdout.split())


VENUES = ("bitmart", "binance", "okx")  # every venue with a face in the simulator
# The packages on the way to the venues' modules, whose __init__ files import nothing.
PACKAGES = {"tracker", "tracker.venues", *(f"tracker.venues.{v}" for v in VENUES)}
SHARED = {f"tracker.venues.{v}.{m}" for v in VENUES for m in ("protocol", "signing")}


@pytest.mark.parametrize("venue", VENUES)
def test_protocol_imports_only_the_standard_library(venue: str) -> None:
    protocol = f"tracker.venues.{venue}.protocol"
    assert loaded_modules(protocol) == {"tracker", "tracker.venues", f"tracker.venues.{venue}",
                                        protocol}


SIMULATOR = Path(simulator.__file__).parent
# Every module of the simulator, its faces' included, by dotted name.
SIMULATOR_MODULES = {".".join(("simulator", *path.relative_to(SIMULATOR).with_suffix("").parts))
                     for path in SIMULATOR.rglob("*.py") if path.stem != "__init__"}


def test_the_simulator_takes_only_protocol_and_signing_from_the_daemon() -> None:
    assert "simulator.faces.bitmart.ws" in SIMULATOR_MODULES  # the faces are searched too
    loaded = loaded_modules(*SIMULATOR_MODULES)
    assert loaded == PACKAGES | SHARED


def test_no_module_imports_in_a_circle() -> None:
    """In the daemon, the simulator, the harness and the benchmarks, type-hint imports
    included (a circle through a hint is a circle still). The layers themselves are
    import-linter's contracts in pyproject.toml; this finds any circle, layered or not."""
    import grimp

    graph = grimp.build_graph("tracker", "simulator", "harness", "bench", cache_dir=None)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    list(graphlib.TopologicalSorter(edges).static_order())  # CycleError names the circle


TRANSPORT = ("websockets", "httpx", "aiosqlite", "psycopg")


@pytest.mark.parametrize("module", ["tracker.session", "tracker.book", "tracker.batch",
                                    "tracker.venues.bitmart.codec",
                                    "tracker.venues.bitmart.cursors",
                                    "tracker.venues.bitmart.frames",
                                    "tracker.venues.binance.codec",
                                    "tracker.venues.binance.frames"])
def test_the_pure_core_loads_no_transport(module: str) -> None:
    """What the contract says of the imports written, checked on what actually loads (the
    registry imports a venue by name, which no static graph sees)."""
    for package in TRANSPORT:
        assert loaded_modules(module, prefix=package) == set(), (module, package)
