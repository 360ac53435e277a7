"""The matrix's upkeep: PyPI's claims and new releases, proposed as rows."""
