"""The phrase index under triage: what a scan finds, word by word, and the memory-saving trie
layout that must never change what it finds."""

from __future__ import annotations

from bot.understanding import phrases
from bot.understanding.phrases import PhraseIndex, is_word


def _scan(index: PhraseIndex, sentence: str) -> dict[int, list[tuple[int, int]]]:
    return index.scan(sentence.split())


def test_each_group_gets_its_own_spans_and_the_longest_phrase_at_each_start() -> None:
    index = PhraseIndex()
    bladder = index.add(["cant pee", "cant pee at all"])
    legs = index.add(["legs give way"])
    found = _scan(index, "i cant pee at all and my legs give way")
    assert found == {bladder.id: [(1, 5)], legs.id: [(7, 10)]}


def test_a_prefix_an_any_word_and_a_number_pattern_each_match_what_they_say() -> None:
    index = PhraseIndex(units=["kg"])
    numb = index.add(["numb* legs"])
    lost = index.add(["lost <number> kg"])
    old = index.add(["im <70+>"])
    both = index.add(["both * legs"])
    assert _scan(index, "numbness legs")[numb.id] == [(0, 2)]
    assert _scan(index, "lost 8 kg")[lost.id] == [(0, 3)]
    assert _scan(index, "im 82")[old.id] == [(0, 2)]
    assert old.id not in _scan(index, "im 45")
    assert _scan(index, "both my legs")[both.id] == [(0, 3)]
    assert both.id not in _scan(index, "both legs")  # "*" is exactly one word


def test_a_bounded_number_is_an_age_or_a_count_never_a_quantity() -> None:
    """ "<70+>" is an age: "walked 100 km" tells no age of 100."""
    index = PhraseIndex(units=["km"])
    age = index.add(["walked <70+>"])
    assert age.id not in _scan(index, "walked 100 km")
    assert _scan(index, "walked 100")[age.id] == [(0, 2)]


def test_digits_that_are_not_numbers_to_int_are_no_numbers() -> None:
    """ "❶" and "²" are digits to str.isdigit(), and int() would raise on them."""
    index = PhraseIndex()
    count = index.add(["took <number>"])
    assert count.id not in _scan(index, "took ❶")
    assert count.id not in _scan(index, "took ²")


def test_a_phrase_in_a_script_without_spaces_is_found_inside_a_word() -> None:
    """A whole Japanese sentence may arrive as one word."""
    index = PhraseIndex()
    crisis = index.add(["死にたい"])
    assert index.scan(["もう死にたいです"])[crisis.id] == [(0, 1)]


def test_the_stems_of_prefix_patterns_are_listed_for_typo_correction() -> None:
    index = PhraseIndex()
    index.add(["numb* legs", "tingl*", "<70+>"])
    assert index.stems == ("numb", "tingl")
    assert is_word("legs") and not is_word("numb*") and not is_word("*") and not is_word("<70+>")


def test_trie_nodes_share_the_empty_table_and_never_write_to_it() -> None:
    """Leaves share one empty table (memory); a shared table that got written would give every
    leaf the same children and make phrases match that nobody wrote."""
    index = PhraseIndex()
    sore = index.add(["back sore", "legs numb*", "over <70+>", "both * legs"])
    assert phrases._NO_CHILDREN == {}
    assert _scan(index, "my back is sore after gardening") == {}
    assert _scan(index, "back sore")[sore.id] == [(0, 2)]


def test_a_node_with_one_exact_child_keeps_it_in_slots_until_a_second_one_comes() -> None:
    """Memory: a chain "cant feel my" keeps each child in two slots; a second child ("cant pee")
    moves both into a table, and every phrase is still found."""
    index = PhraseIndex()
    first = index.add(["cant feel my feet"])
    root = index._root
    assert root.word == "cant" and root.exact == {}
    second = index.add(["cant pee", "cant feel*"])
    assert root.word == "cant" and root.exact == {}  # still one child
    assert root.next.word is None and set(root.next.exact) == {"feel", "pee"}
    index.add(["no feeling"])
    assert root.word is None and set(root.exact) == {"cant", "no"}
    found = index.scan(["i", "cant", "feel", "my", "feet", "and", "cant", "pee"])
    assert found[first.id] == [(1, 5)] and found[second.id] == [(1, 3), (6, 8)]
