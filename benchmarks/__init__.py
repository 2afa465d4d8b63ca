"""shuf-big's benchmark suite, a package so that its scripts share code: run its modules from
the repository's root, e.g. ``python -m benchmarks.run --size 2G`` (see benchmarks/README.md).
"""
