"""BitMart's face: the v2 and v4 REST APIs, the public market lists and the private
WebSocket, as docs/protocol-notes.md describes them, quirks included."""
