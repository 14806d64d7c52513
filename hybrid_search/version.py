"""The package version, apart from `hybrid_search/__init__` so that low modules can read it."""

__version__ = "0.1.0"
