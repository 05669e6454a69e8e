"""State derived from stored lineage and kept up to date as it arrives: attribution of
predictions to training runs, model closures, and where tags and incidents reached."""
