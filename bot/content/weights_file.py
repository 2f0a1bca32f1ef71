"""Reads the weight files of the statistical models: triage's safety net (`triage/model.tsv`)
and the matcher's topic model (`matching_model.tsv`).

Both are generated, line-per-feature text files, read at start and checked like any other
content: a hand edit or a stale file comes back as one line naming the file and the field or
line, never as a traceback or a silently weaker bot.

Why a line-per-feature text file and not JSON: it is read line by line into compact arrays, so
a model costs a few MB for thousands of features instead of the ~40 MB a parsed JSON tree held
(the load benchmark holds the bot to 1.5x the memory of a bare echo bot).

    language  en                      head: one field a line, name TAB value(s)
    classes   none crisis bladder ...
    ...
    features                          then one line per feature:
    cant pee  2.31  -1.2 0.3 2.9 ...  the feature, TAB, its weights (tabs or spaces between them)
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Literal, Protocol

FEATURES_MARK = "features"
Row = array | memoryview  # one feature's weights: packed in a WeightTable, or an array (in tests)
# A packed table holds weights as whole thousandths in two bytes: the trainers write them rounded
# to 3 decimals (`DIGITS`), so nothing is lost, and 40,000 features x 11 weights take 0.9 MB, not 1.8.
THOUSANDTHS = 1000
MAX_THOUSANDTHS = 32767
# A feature is found by the low 60 bits of its hash: a Python int of that size takes two 30-bit
# digits (32 bytes), a full 64-bit hash three (48 bytes with the allocator's rounding): the safety
# net's 36,000 keys cost 0.6 MB less RSS. Two of a model's features sharing 60 bits of hash: about
# one chance in 10^9.
KEY_MASK = (1 << 60) - 1
_key = KEY_MASK.__and__


def _keys(features: Iterable[str]) -> Iterator[int]:
    """Each feature's key in a `WeightTable`'s index, computed in C."""
    return map(_key, map(hash, features))


# What a head field holds: free text (the language, a fingerprint), class names, one number,
# several numbers, a share (above 0, at most 1), or a whole number of at least 1.
Kind = Literal["text", "names", "number", "numbers", "share", "count"]


class Problems(Protocol):
    def add(self, file: Path, message: str, entry: str | None = None, field: str | None = None) -> None: ...


class Checked:
    """Passes problems on for one file, counting them: a model is only built from a file without any."""

    def __init__(self, report: Problems, file: Path) -> None:
        self.report = report
        self.file = file
        self.count = 0

    def add(self, message: str, field: str | None = None) -> None:
        self.count += 1
        self.report.add(self.file, message, None, field)


Lines = Iterator[tuple[int, str]]


def read_head(lines: Lines, fields: Mapping[str, Kind], checked: Checked) -> dict:
    """The fields before the `features` line, each checked for its kind of value: text fields
    as one string, names as a tuple of strings, the others as floats (a list for `numbers`)."""
    head: dict = {}
    for number, line in lines:
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        if line == FEATURES_MARK:
            break
        name, _, value = line.partition("\t")
        if name not in fields:
            checked.add(f"line {number}: unknown field", name)
            continue
        head[name] = value
    else:
        checked.add(f"no '{FEATURES_MARK}' line before the weights")
    for name in fields:
        if name not in head:
            checked.add("missing", name)
    if checked.count:
        return head
    for name, kind in fields.items():
        head[name] = _value(head[name], name, kind, checked)
    return head


def _value(text: str, name: str, kind: Kind, checked: Checked) -> object:
    if kind == "text":
        return text
    values = text.split("\t")
    if kind == "names":
        return tuple(values)
    numbers = [_number(value) for value in values]
    if any(number is None for number in numbers):
        checked.add("must be a number" + ("s" if kind == "numbers" else ""), name)
        return None
    if kind == "numbers":
        return numbers
    value = numbers[0]
    if kind == "share" and (len(numbers) != 1 or not 0 < value <= 1):
        checked.add("must be a number above 0 and at most 1", name)
    elif kind == "count" and (len(numbers) != 1 or value != int(value) or value < 1):
        checked.add("must be a whole number of at least 1", name)
    elif len(numbers) != 1:
        checked.add("must be one number", name)
    return value


class WeightTable:
    """Every feature's weights as whole thousandths (`unit` each), one array per column (class),
    a feature's weights at its row in each, found by the feature's hash.

    Why not a dict of small arrays: each array object costs ~100 bytes beyond its weights, about
    1.5 MB over two models' ~18,000 features, and the load benchmark leaves about 1 MB of headroom.
    Why hashes, not the features: ~40,000 feature strings ("my back", "cant pee") cost about 2.4 MB
    and are needed only to find a row; their hashes, computed in this process when the file is
    read and again for a message's features, cost less (60 bits of it: `KEY_MASK`). Why columns:
    a message's sum per class gathers its rows from each column in C (`column_sums`), where
    reading row after row and transposing took twice as long."""

    __slots__ = ("_columns", "_firsts", "_index", "_none", "width")
    unit = 1 / THOUSANDTHS  # what one step of a stored weight is worth

    def __init__(self, index: dict[int, int], columns: Sequence[array]) -> None:
        self._index = index  # hash(feature) -> its row
        self._columns = tuple(columns)
        self.width = len(self._columns)
        # The first weights again (as floats), and a 0 for features without a row: the gate's
        # sum then runs in C (`first_sum`), a tenth of the time on a long message.
        self._firsts = array("d", (value * self.unit for value in self._columns[0])) if columns else array("d")
        self._none = len(self._firsts)
        self._firsts.append(0.0)

    def __getitem__(self, feature: str) -> list[int]:
        """The feature's weights in thousandths (`unit`)."""
        row = self._index[_key(hash(feature))]
        return [column[row] for column in self._columns]

    def __contains__(self, feature: object) -> bool:
        return isinstance(feature, str) and _key(hash(feature)) in self._index

    def __len__(self) -> int:
        return len(self._index)

    def column_sums(self, features: Iterable[str]) -> list[float]:
        """Each column's sum over the features that have a row, in weights; [] when none has."""
        rows = [row for row in map(self._index.get, _keys(features)) if row is not None]
        if not rows:
            return []
        unit = self.unit
        if len(rows) == 1:
            return [column[rows[0]] * unit for column in self._columns]
        gather = itemgetter(*rows)
        return [sum(gather(column)) * unit for column in self._columns]

    def first_sum(self, features: Iterable[str]) -> float:
        """The sum of the first weight of each feature that has a row (the safety net's gate)."""
        rows = map(self._index.get, _keys(features), repeat(self._none))
        return sum(map(self._firsts.__getitem__, rows))


Rows = Mapping[str, Row] | WeightTable  # a packed table as read from a file, or a plain mapping (tests, trainers)


def column_sums(rows: Rows, features: Iterable[str]) -> list[float]:
    """Each column's sum over those features that have a row, from a `WeightTable` or any
    mapping; [] when none has."""
    if isinstance(rows, WeightTable):
        return rows.column_sums(features)
    known = [rows[feature] for feature in features if feature in rows]
    return [sum(column) for column in zip(*known, strict=True)]


def first_sum(rows: Rows, features: Iterable[str]) -> float:
    """The sum of the first weight of each feature that has a row."""
    if isinstance(rows, WeightTable):
        return rows.first_sum(features)
    return sum(rows[feature][0] for feature in features if feature in rows)


def read_rows(lines: Lines, columns: int, checked: Checked, what: str) -> WeightTable:
    """`columns` weights a feature, packed (`WeightTable`). `what` names the weights a line
    needs, for the message about a broken one."""
    index: dict[int, int] = {}
    values = [array("h") for _ in range(columns)]
    for number, line in lines:
        feature, _, text = line.rstrip("\n").partition("\t")
        numbers = [_number(value) for value in text.split()]
        if not feature or len(numbers) != columns or any(value is None for value in numbers):
            checked.add(f"line {number}: needs a feature and {what}", FEATURES_MARK)
            return WeightTable({}, [array("h") for _ in range(columns)])
        steps = [round(value * THOUSANDTHS) for value in numbers]
        if any(
            abs(step) > MAX_THOUSANDTHS or abs(step - value * THOUSANDTHS) > 1e-6
            for step, value in zip(steps, numbers, strict=True)
        ):
            limit = MAX_THOUSANDTHS / THOUSANDTHS
            checked.add(f"line {number}: weights need at most 3 decimals, from -{limit} to {limit}", FEATURES_MARK)
            return WeightTable({}, [array("h") for _ in range(columns)])
        key = _key(hash(feature))
        if key in index:  # a repeated feature: the last line wins, as in a dict
            for column, step in zip(values, steps, strict=True):
                column[index[key]] = step
            continue
        index[key] = len(index)
        for column, step in zip(values, steps, strict=True):
            column.append(step)
    return WeightTable(index, values)


def read_model(
    file: Path,
    fields: Mapping[str, Kind],
    report: Problems,
    classes_of: Callable[[dict, Checked], tuple[str, ...]],
    leading: str = "",
) -> tuple[dict, tuple[str, ...], WeightTable] | None:
    """A model file's head, classes and feature rows, or None after reporting its problems.
    `classes_of` checks the head and names the classes; each feature line holds one weight per
    class, after the `leading` weights (for the safety net: "its gate weight")."""
    checked = Checked(report, file)
    try:
        with file.open(encoding="utf-8") as handle:
            lines = enumerate(handle, 1)  # one count across the head and the features
            head = read_head(lines, fields, checked)
            if checked.count:
                return None
            classes = classes_of(head, checked)
            if checked.count:
                return None
            extra = 1 if leading else 0
            what = f"{leading + ' and ' if leading else ''}{len(classes)} class weights"
            rows = read_rows(lines, extra + len(classes), checked, what)
    except (OSError, UnicodeDecodeError) as error:
        report.add(file, f"cannot be read: {error}")
        return None
    return None if checked.count else (head, classes, rows)


def read_field(file: Path, name: str) -> str | None:
    """One text field of a model file's head, without loading the rest (for `--check`)."""
    if not file.exists():
        return None
    with file.open(encoding="utf-8") as lines:
        for line in lines:
            field, _, value = line.rstrip("\n").partition("\t")
            if field == name:
                return value
            if field == FEATURES_MARK:
                break
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
