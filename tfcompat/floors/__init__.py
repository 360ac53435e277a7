"""The oldest macOS a pair installs on, loads on, and was built for (issue 22)."""
