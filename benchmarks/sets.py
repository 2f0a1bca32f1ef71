"""Which evaluation sets are for development (tuned on, and what the models learn from) and
which are held out (written blind before a round of changes, scored only by the benchmark).

One list, so the trainers and the benchmark can never disagree about what is held out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent

# Patient questions, labelled with the entry that answers them (or out_of_scope).
ANSWER_DEV = (
    ("first set (dev)", HERE / "eval_set.yaml"),
    ("dev", HERE / "understanding_dev.yaml"),
    ("dev 2", HERE / "understanding_dev2.yaml"),
    ("dev 3", HERE / "understanding_dev3.yaml"),
    ("dev 4", HERE / "understanding_dev4.yaml"),
    ("dev 5", HERE / "understanding_dev5.yaml"),
    ("dev 6", HERE / "understanding_dev6.yaml"),
)
# Each written blind before a round of matcher changes; the targets judge the last one.
ANSWER_HELD_OUT = (
    ("held-out", HERE / "understanding_heldout.yaml"),
    ("held-out 2", HERE / "understanding_heldout2.yaml"),
)

# Safety triage: red flags, crisis messages and messages that must not alarm.
TRIAGE_DEV = tuple(sorted(HERE.glob("triage_dev*.yaml")))
# Each written blind before a round of triage changes; the targets judge the last one.
TRIAGE_HELD_OUT = (
    ("held-out 1", HERE / "triage_heldout.yaml"),
    ("held-out 2", HERE / "triage_heldout2.yaml"),
    ("held-out 3", HERE / "triage_heldout3.yaml"),
    ("held-out 4", HERE / "triage_heldout4.yaml"),
    ("held-out 5", HERE / "triage_heldout5.yaml"),
    ("held-out 6", HERE / "triage_heldout6.yaml"),
    ("held-out 7", HERE / "triage_heldout7.yaml"),
    ("held-out 8", HERE / "triage_heldout8.yaml"),
    ("held-out 9", HERE / "triage_heldout9.yaml"),
    ("held-out 10", HERE / "triage_heldout10.yaml"),
    ("held-out 11", HERE / "triage_heldout11.yaml"),
    ("held-out 12", HERE / "triage_heldout12.yaml"),
    ("held-out 13", HERE / "triage_heldout13.yaml"),
    ("held-out 14", HERE / "triage_heldout14.yaml"),
    ("held-out 15", HERE / "triage_heldout15.yaml"),
    ("held-out 16", HERE / "triage_heldout16.yaml"),
    ("held-out 17", HERE / "triage_heldout17.yaml"),
    ("held-out 18", HERE / "triage_heldout18.yaml"),
    ("held-out 19", HERE / "triage_heldout19.yaml"),
    ("held-out 20", HERE / "triage_heldout20.yaml"),
    ("held-out 21", HERE / "triage_heldout21.yaml"),
)


def read_set(path: Path) -> Any:
    """A set's YAML, parsed by libyaml where PyYAML has it: the sets hold ~50,000 messages, which
    the pure-Python parser takes ~20 s to read and libyaml ~2 s."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
