"""mold.teacher.parse.bound_keywords: App. B.2's 3-8 unique keywords, occurring in x."""

from __future__ import annotations

from mold.teacher.parse import Dropped, ParsedReply, bound_keywords

X = "Where do fish live? Answer choices: (A) sea, (B) desert.\nFish need water. The sea is water."


def test_keywords_absent_from_the_text_are_removed_and_counted():
    parsed = ParsedReply("Fish need water. The sea is water.", "A", ("fish", "water", "sea", "ocean", "gills"))
    kept, removed = bound_keywords(parsed, X, (3, 8))
    assert kept == ParsedReply(parsed.rationale, "A", ("fish", "water", "sea"))
    assert removed == {"absent_from_text": 2, "beyond_max": 0}


def test_fewer_than_the_minimum_left_drops_the_reply():
    parsed = ParsedReply("Fish need water.", "A", ("fish", "ocean", "waterfall"))  # "waterfall" is no whole word of x
    result, removed = bound_keywords(parsed, X, (3, 8))
    assert isinstance(result, Dropped) and result.reason == "too_few_keywords"
    assert removed["absent_from_text"] == 2


def test_more_than_the_maximum_keeps_the_first():
    parsed = ParsedReply("r", "A", ("where", "fish", "live", "sea", "desert", "need", "water", "choices", "answer"))
    kept, removed = bound_keywords(parsed, X, (3, 8))
    assert kept.keywords == ("where", "fish", "live", "sea", "desert", "need", "water", "choices")
    assert removed == {"absent_from_text": 0, "beyond_max": 1}


def test_too_few_can_be_kept_and_counted_for_tiny_teachers():
    parsed = ParsedReply("Fish need water.", "A", ("fish", "ocean"))
    kept, removed = bound_keywords(parsed, X, (3, 8), drop_too_few=False)
    assert kept == ParsedReply(parsed.rationale, "A", ("fish",))
    assert removed == {"absent_from_text": 1, "beyond_max": 0, "kept_too_few": 1}
