"""Libraries the tests share: paths, nox runs, the local package index, records, reports, plugins.

Only plain code lives here (no fixtures, no tests): fixtures and hooks are in ``tests/conftest.py``,
and no test module imports another.
"""
