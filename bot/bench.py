"""Moved to `benchmarks/understanding.py` (run `python -m benchmarks.understanding`); this name
stays only until the tests that import it are moved over."""

from benchmarks.understanding import *  # noqa: F403
from benchmarks.understanding import main

if __name__ == "__main__":
    raise SystemExit(main())
