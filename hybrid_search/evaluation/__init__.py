"""Retrieval-quality evaluation on BEIR-format datasets (ranx metrics, TREC runs, charts) and
hard-negative mining for fine-tuning. Nothing here imports torch at import time."""
