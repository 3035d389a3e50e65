"""The tracker's I/O edges towards the exchange: REST (`rest`) and the private stream
(`stream`). They move bytes and dicts; validation happens in `tracker.codec`."""
