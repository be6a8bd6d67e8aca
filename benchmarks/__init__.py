"""Benchmarks of hoag_shine on real data (not part of the installed package).

Run them from the repository root, for example::

    python -m benchmarks.bench_inner --data-home ../shared/datasets
    python -m benchmarks.bench_backward --data-home ../shared/datasets

Data sets are loaded through :mod:`benchmarks.datasets`; adding one is one
small module and one entry in its registry.
"""
