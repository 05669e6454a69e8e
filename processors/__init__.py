"""Stream processors, store and command line of lineage-collector."""
