"""An exchange in one process: one order state, fault injection and a ground-truth view,
spoken to through the wire of a real venue.

It exists because the live exchanges cannot be reached from where the tracker is built
and tested. The core here (orders, accounts, flow, faults, load, control API, truth) is the
same for every venue; each venue's wire is a face in `faces/` (BitMart's today, following
docs/protocol-notes.md, quirks included), and `app` installs the faces over the core.
"""
