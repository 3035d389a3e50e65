"""The end-to-end harness that tests/ and bench/ share: the simulator and the daemon as real
subprocesses, the book read as any other reader reads it, and its comparison with the
simulator's ground truth.

Nothing here imports the daemon: it is driven through its command line and environment.
"""

from harness.daemon import CREDENTIALS, FAST, Daemon
from harness.disk import fill_disk
from harness.lab import Lab
from harness.processes import TRACKER, clean_env, logged, run_once, stop_process, tail
from harness.profiles import BITMART_V2, BITMART_V4, PROFILES, Profile
from harness.sim import SYMBOLS, Sim
from harness.truth import BookView, differences, divergences, journal, read_book, ro_connect
from harness.waiting import eventually

__all__ = [
    "BITMART_V2", "BITMART_V4", "CREDENTIALS", "FAST", "PROFILES", "SYMBOLS", "TRACKER",
    "BookView", "Daemon", "Lab", "Profile", "Sim",
    "clean_env", "differences", "divergences", "eventually", "fill_disk", "journal",
    "logged", "read_book", "ro_connect", "run_once", "stop_process", "tail",
]
