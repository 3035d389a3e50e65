"""OKX (API v5, spot): its paged REST seed and order lookups, its private `orders` channel.

Light on purpose: the simulator imports `protocol` and `signing` from here without the
daemon, so this file imports nothing."""
