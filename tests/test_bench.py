"""The understanding benchmark runs as a module and prints its tables and verdicts; --failures
lists the development sets' misses only, never the held-out sets' (nobody may tune on them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str) -> str:
    """The benchmark's output, run quickly (one timed round over every 10th message, no 100x
    knowledge base): every message of every set is still scored."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.understanding",
            "--rounds",
            "1",
            "--time-every",
            "10",
            "--no-synthetic",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bench_runs_and_prints_the_tables():
    tables, listed = bench("--failures").split("Development sets only", 1)
    for row in (
        "| red-flag recall (alarm or safety question) |",
        "| false alarms (must-not-alarm messages) |",
        "| safety question on must-not-alarm messages |",
        "| all items right |",
        "| in scope: 'did you mean' rate |",
        "| out-of-scope rejection |",
        "| latency p99 (ms) |",
    ):
        assert row in tables, row
    assert "| measure | dev (the model's training data) | held-out 1 | held-out 2 | held-out 3 | held-out 4 |" in tables
    answers = "| measure | first set (dev) | dev | dev 2 | dev 3 | dev 4 | dev 5 | dev 6 | held-out | held-out 2 |"
    assert answers in tables
    assert "naive WRatio" in tables
    assert "PASS" in tables or "FAIL" in tables
    assert "100x base" not in tables
    assert "- held-out" not in listed and "- triage dev:" in listed and "- dev 6:" in listed


def test_bench_dev_only_never_scores_a_held_out_set():
    output = bench("--dev-only")
    assert "held-out not scored (--dev-only)" in output
    assert "| held-out" not in output and "held-out 2" not in output
    assert "(dev only)" in output
