"""The simulator's faces: one package per venue, each speaking that venue's wire (its REST
paths, its WebSocket, its envelopes and byte-exact encodings) over the one order state of
the core below. A face imports the core, never another face; `simulator.app` installs them.
"""
