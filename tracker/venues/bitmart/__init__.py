"""BitMart: the venue the tracker was specified for (v2 and v4 REST, the private channel).

Light on purpose: the simulator imports `protocol` and `signing` from here without the
daemon, so this file imports nothing."""
