"""What the tests (and the benchmarks) share, in one place: paths to the shared models and data, readers of the
shared data sets, retrieval scoring, small model builders and a live server.

Test modules import helpers from here, never from a conftest; conftest files only declare fixtures (built from
these helpers).
"""
