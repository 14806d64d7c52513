"""`hybrid-search bench`: the project timed against the tools it wraps (bare pymilvus, bare
FlagEmbedding), each figure a measurement of this run with its unit; nothing is hard-coded."""
