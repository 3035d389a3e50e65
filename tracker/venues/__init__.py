"""The venues the tracker speaks to, one package each; `tracker.venue` says what a package
supplies, and `tracker.venues.registry` finds one by its `venue` setting."""
