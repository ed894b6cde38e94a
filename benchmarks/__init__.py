"""Benchmarks of the course: convolution implementations, grading and the book build.

``python benchmarks/run.py --json OUT.json`` runs them all; ``book/performance.md`` plots
the run recorded in ``benchmarks/results/``.
"""
