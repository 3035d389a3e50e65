"""The SQL the user documentation gives, as written, for tests to run: a query a reader
copies from the docs must do what the docs say, and cannot rot unseen."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```sql\n(.*?)^```$", re.M | re.S)


def documented(doc: str, title: str) -> list[str]:
    """The statements under the comment line `-- {title}` (a first line that continues on
    `-- ` lines after it) in a ```sql block of docs/`doc`, up to the next comment line or
    the block's end: one string per statement, without its `;`."""
    for block in FENCE.findall((DOCS / doc).read_text()):
        lines = block.splitlines()
        starts = [i for i, line in enumerate(lines) if line == f"-- {title}"]
        if not starts:
            continue
        body = lines[starts[0] + 1:]
        while body and body[0].startswith("-- "):
            body = body[1:]  # the title's own continuation
        end = next((i for i, line in enumerate(body) if line.startswith("-- ")), len(body))
        text = "\n".join(body[:end])
        return [s.strip() for s in text.split(";") if s.strip()]
    raise AssertionError(f"docs/{doc} has no ```sql block with the line '-- {title}'")
