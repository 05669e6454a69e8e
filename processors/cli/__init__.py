"""The `lineage` command line: the entry point, the local stack commands, the questions, the
demo, pictures of the graph, and how answers are printed."""
