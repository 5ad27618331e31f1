"""Benchmarks behind notebook 09: ``python -m benchmarks.kill_matrix`` (a crash in the middle of a save) and
``python -m benchmarks.checkpoint`` (what checkpoints cost at scale). They write CSV files and charts to ``build/``."""
