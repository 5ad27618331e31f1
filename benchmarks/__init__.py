"""Benchmarks behind notebooks 09 and 11: ``python -m benchmarks.kill_matrix`` (a crash in the middle of a save, 09)
and ``python -m benchmarks.checkpoint`` (what checkpoints cost at scale, 11). They write CSV files and charts to
``build/``."""
