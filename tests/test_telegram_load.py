"""The load benchmark's quick run: many patients at once must each get every reply exactly once,
with no call Telegram would refuse. Latency and memory ratios are printed but not asserted here:
timing on a shared CI machine flakes (`python -m benchmarks.telegram_load --check` judges them)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, bot_env

TIMEOUT_SECONDS = 120


def _row(output: str, metric: str) -> list[str]:
    """The cells of the table row for `metric` (without the metric itself)."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0] == metric:
            return cells[1:]
    raise AssertionError(f"no row {metric!r} in the benchmark's table:\n{output}")


def test_quick_load_run_loses_and_duplicates_nothing() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.telegram_load", "--quick"],
        cwd=ROOT,
        env=bot_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    output = run.stdout
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr[-4000:]}"
    assert "| metric | our bot | echo bot | ours / echo | target |" in output, output
    for metric in ("latency p99 (ms)", "peak RSS (MB)", "replies per second"):
        _row(output, metric)  # printed, not judged
    for metric in ("lost replies", "duplicated replies", "validation errors", "timed-out updates"):
        ours, echo = _row(output, metric)[:2]
        assert (ours, echo) == ("0", "0"), f"{metric}: ours {ours}, echo {echo}\n{output}"
    for received in _row(output, "replies received / expected")[:2]:
        got, expected = (int(n) for n in received.split(" / "))
        assert got == expected > 0, output
