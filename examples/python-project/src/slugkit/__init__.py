"""slugkit: readable, URL-safe slugs from titles in any script that has a Latin transliteration."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["slugify", "unique_slug"]

_SEPARATORS = re.compile(r"[^a-z0-9]+")
_SPECIAL = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d"})


def slugify(title: str, *, max_length: int = 60) -> str:
    """`"Crème Brûlée: 3 façons!"` -> `"creme-brulee-3-facons"`.

    Accents are dropped, anything else that is not a letter or digit becomes one hyphen, and the
    result is cut at a hyphen so that it fits in `max_length`.
    """
    if max_length < 1:
        raise ValueError("max_length must be at least 1")
    text = title.lower().translate(_SPECIAL)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _SEPARATORS.sub("-", text).strip("-")
    if len(slug) > max_length:
        cut = slug[: max_length + 1].rfind("-")
        slug = slug[: cut if cut > 0 else max_length].strip("-")
    return slug


def unique_slug(title: str, taken: set[str], *, max_length: int = 60) -> str:
    """A slug of `title` not in `taken`: `intro`, then `intro-2`, `intro-3`, ..."""
    base = slugify(title, max_length=max_length) or "untitled"
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: max_length - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        n += 1
