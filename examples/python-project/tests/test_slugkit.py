from __future__ import annotations

import pytest

from slugkit import slugify, unique_slug


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("Crème Brûlée: 3 façons", "creme-brulee-3-facons"),
        ("Straße & Œuvre", "strasse-oeuvre"),
        ("  --already-a-slug--  ", "already-a-slug"),
        ("", ""),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_long_titles_are_cut_at_a_hyphen() -> None:
    assert slugify("the quick brown fox jumps over", max_length=14) == "the-quick"


def test_max_length_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        slugify("x", max_length=0)


def test_unique_slug_counts_up() -> None:
    taken = {"intro", "intro-2"}
    assert unique_slug("Intro", taken) == "intro-3"
    assert unique_slug("", set()) == "untitled"
