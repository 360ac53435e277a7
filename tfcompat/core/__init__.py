"""The floor: configuration, errors, files, caches, the one place uv runs, the matrix, the
record, the host. It imports nothing else of tfcompat."""
