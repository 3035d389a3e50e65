"""Benchmarks, measured side by side in one run; one JSON object on stdout.

    python -m bench                 # the sizes the targets name (several minutes)
    python -m bench --scale 0.05    # the same at 5% size (the CI smoke run)

ingest    200,000 pushes for 20,000 orders in one burst: the daemon, the floor (the same
          frames inflated, parsed, merged and written in one process, no sockets) and a
          naive peer (parse, then one aiosqlite transaction per update)
latency   2,000 pushes/s for 30 s: simulator send to a separate reader seeing the row
seed      100,000 open orders over 20 symbols, page size 100, beside the same page
          requests as bare paced HTTP fetches (the I/O floor)
footprint resident memory after that seed; CPU while idle with keep-alives only
readers   SELECT * FROM open_orders WHERE symbol = ? on that book during the paced load
symbols   50,000 open orders over 300 symbols (one ALL_SYMBOLS topic): start to live and
          peak RSS, v2 then v4; only with --only symbols, as v4's pace makes it about
          2.5 minutes at any scale
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ingest, live, symbols


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the named sizes and durations (default 1)")
    parser.add_argument("--only", choices=("ingest", "live", "symbols"), help="one part only")
    args = parser.parse_args(argv)
    started = time.monotonic()
    figures: dict[str, Any] = {"scale": args.scale, "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        if args.only in (None, "ingest"):
            figures["ingest"] = ingest.run(work / "ingest", args.scale)
        if args.only in (None, "live"):
            figures |= live.run(work / "live", args.scale)
        if args.only == "symbols":
            figures["symbols"] = symbols.run(work / "symbols", args.scale)
    figures["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
