"""The verify wing: a pair on a Mac, for real (provision with uv, run the probes, judge them)."""
