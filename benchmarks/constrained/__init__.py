"""One module per mechanism for the ``constrained`` family (:mod:`benchmarks.bench_constrained`):
each defines ``CASE``, a :class:`benchmarks.bench_constrained.ConstrainedCase`."""
