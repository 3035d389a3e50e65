"""BitMart's face: the v2 and v4 REST APIs, the public market lists and the private
WebSocket, as docs/protocol-notes.md describes them, quirks included.

It is the one part of the simulator that imports the daemon, and only BitMart's protocol
facts and signing recipes (`tracker.venues.bitmart`), so that both sides of every test
speak from the same facts; a contract in pyproject.toml keeps the rest of it out.
"""
