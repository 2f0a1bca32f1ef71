"""The benchmark runs as a module and prints its Markdown table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_and_prints_the_table():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bot.bench", "--rounds", "1", "--no-synthetic"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "| top-1 accuracy in scope |" in out
    assert "| out-of-scope rejection |" in out
    assert "| latency p99 (ms) |" in out
    assert "naive WRatio" in out
    assert "PASS" in out or "FAIL" in out
    assert "100x base" not in out
