"""Adapters to other frameworks; each module needs its own extra (e.g. `langchain`)."""
