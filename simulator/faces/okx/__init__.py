"""OKX's face (API v5, spot): its REST reads and order calls and its private WebSocket's
`orders` channel, as docs/okx.md and docs/simulator.md describe them.

Like the other faces, it imports of the daemon only its venue's protocol facts and signing
recipes (`tracker.venues.okx`), so that both sides speak from the same facts.
"""
