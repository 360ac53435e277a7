"""The package index: its PEP 691 answers, wheels on it, a snapshot of it for one run."""
