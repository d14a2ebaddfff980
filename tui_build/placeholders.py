"""`{input}`, `{stem}`, `{name}`, matrix keys, `{inputs}` and `{outputs}` in task strings.

Placeholders are `str.format`-style names (`{{` and `}}` are literal braces) but nothing else of
`str.format`: no attributes, indexes, conversions or format specs, so a typo cannot turn into an
`AttributeError` at run time. :func:`check_task` validates every string of a task once, when the
graph is built; :func:`expand` and :func:`expand_value` substitute at graph and at run time.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from typing import Any

from .spec import TaskSpec

_FORMATTER = string.Formatter()
RUNTIME = ("inputs", "outputs")
"""Placeholders only known when the task is about to run (its files are globbed then)."""


class PlaceholderError(ValueError):
    """A bad or unknown placeholder; the message says which and where."""


def names(text: str) -> list[str]:
    """The placeholder names used in `text`, in order. Raises :class:`PlaceholderError`."""
    return [name for _, name in _parse(text) if name is not None]


def _parse(text: str) -> Iterator[tuple[str, str | None]]:
    if "{" not in text and "}" not in text:  # most strings: nothing to parse
        yield text, None
        return
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as error:
        raise PlaceholderError(
            f"malformed braces in '{text}': {error} (write {{{{ and }}}} for literal braces)"
        ) from None
    for literal, name, spec, conversion in parsed:
        if name is not None and (spec or conversion or not name.isidentifier()):
            whole = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise PlaceholderError(
                f"malformed placeholder '{{{whole}}}' in '{text}' (placeholders are plain names "
                f"like {{input}}; write {{{{ and }}}} for literal braces)"
            )
        yield literal, name


def expand(text: str, values: Mapping[str, str]) -> str:
    """Substitute every placeholder of `text` (all must be in `values`)."""
    if "{" not in text and "}" not in text:
        return text
    out: list[str] = []
    for literal, name in _parse(text):
        out.append(literal)
        if name is not None:
            if name not in values:
                raise PlaceholderError(f"unknown placeholder '{{{name}}}' in '{text}'")
            out.append(values[name])
    return "".join(out)


def expand_value(value: Any, values: Mapping[str, str], lists: Mapping[str, list[str]]) -> Any:
    """Expand strings inside a TOML value (lists and tables, recursively).

    A list element that is exactly `{inputs}` (or another name in `lists`) becomes several
    elements; a table value that is exactly that becomes a list; anywhere else the placeholder
    takes its text form from `values`.
    """
    if isinstance(value, str):
        return expand(value, values)
    if isinstance(value, (list, tuple)):
        result: list[Any] = []
        for item in value:
            spliced = _whole(item, lists)
            if spliced is not None:
                result.extend(spliced)
            else:
                result.append(expand_value(item, values, lists))
        return result
    if isinstance(value, dict):
        return {
            key: (
                list(spliced)
                if (spliced := _whole(item, lists)) is not None
                else expand_value(item, values, lists)
            )
            for key, item in value.items()
        }
    return value


def _whole(item: Any, lists: Mapping[str, list[str]]) -> list[str] | None:
    if isinstance(item, str) and item.startswith("{") and item.endswith("}"):
        return lists.get(item[1:-1])
    return None


def strings(value: Any) -> Iterator[str]:
    """Every string inside a TOML value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings(item)


def _fields(spec: TaskSpec) -> Iterator[tuple[str, Any]]:
    yield "cmd", spec.cmd
    yield "args", spec.args
    yield "kwargs", spec.kwargs
    yield "env", spec.env
    yield "inputs", spec.inputs
    yield "outputs", spec.outputs
    yield "cwd", spec.cwd
    yield "description", spec.description
    yield "group", spec.group


_STATIC_FIELDS = ("inputs", "outputs", "cwd", "description", "group")
"""Fields whose placeholders are expanded before any file is globbed: no `{inputs}` there."""


def check_task(spec: TaskSpec) -> None:
    """Check every placeholder of a task. Raises :class:`PlaceholderError`."""
    foreach = ("input", "stem") if spec.foreach else ()
    for field, value in _fields(spec):
        if not value:
            continue
        runtime = () if field in _STATIC_FIELDS else RUNTIME
        known = (*foreach, "name", *runtime, *spec.matrix)
        for text in strings(value):
            for literal, name in _parse(text):
                if name is None or name in known:
                    continue
                raise PlaceholderError(_unknown(name, field, known, literal, spec.shell))


def _unknown(name: str, field: str, known: tuple[str, ...], before: str, shell: bool) -> str:
    if name in ("input", "stem"):
        return f"{{{name}}} is only defined in foreach tasks (used in {field})"
    if name in RUNTIME:
        return (
            f"{{{name}}} is not allowed in {field} "
            "(it is only known when the task runs, from its inputs and outputs)"
        )
    message = f"unknown placeholder '{{{name}}}' in {field} (known: {', '.join(known)})"
    if shell and field == "cmd" and before.endswith("$"):
        message += f"; write ${{{{{name}}}}} for a shell variable"
    return message
