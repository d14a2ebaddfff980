"""The type rules of each key of a task, a template and `[build]`.

Split out of :mod:`.spec` so that the rules read as one table of small converters: each takes a
value as `tomllib` returns it and gives back the normalised value (tuples, strings) or raises
:class:`KeyTypeError` with a message that :mod:`.spec` prefixes with the file, line and task.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_CALL = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
RESERVED_PARAMS = ("input", "stem", "name", "inputs", "outputs")


class KeyTypeError(ValueError):
    """A key has a value of the wrong type or out of range."""


def type_name(value: object) -> str:
    """The TOML name of a value's type."""
    if isinstance(value, bool):
        return "boolean"
    for kind, name in (
        (int, "integer"),
        (float, "float"),
        (str, "string"),
        (list, "array"),
        (dict, "table"),
    ):
        if isinstance(value, kind):
            return name
    # TOML's datetime, date and time are Python's classes of those names (tomllib makes them):
    # no `import datetime` (1.5 ms) to say so.
    return type(value).__name__


def describe(value: object) -> str:
    """A value for an error message: its type, and itself when it is a short scalar."""
    if isinstance(value, (bool, int, float)):
        return f"{type_name(value)} {str(value).lower() if isinstance(value, bool) else value}"
    return type_name(value)


def scalar_text(value: object) -> str:
    """Environment and matrix values are strings; TOML numbers and booleans convert as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise KeyTypeError(f"key '{key}' must be a string, got {type_name(value)}")
    return value


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise KeyTypeError(f"key '{key}' must be a boolean (true or false), got {type_name(value)}")
    return value


def _positive_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise KeyTypeError(f"key '{key}' must be a number, got {type_name(value)}")
    if not value > 0:
        raise KeyTypeError(f"key '{key}' must be greater than 0, got {value}")
    return float(value)


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise KeyTypeError(f"key '{key}' must be an integer, got {type_name(value)}")
    if value < 1:
        raise KeyTypeError(f"key '{key}' must be at least 1, got {value}")
    return value


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise KeyTypeError(
            f"key '{key}' must be a string or a list of strings, got {type_name(value)}"
        )
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise KeyTypeError(
                f"key '{key}' must be a list of strings, item {index + 1} is {describe(item)}"
            )
    return tuple(value)


def _env(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise KeyTypeError(f"key '{key}' must be a table, got {type_name(value)}")
    result: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(item, (str, int, float, bool)):
            raise KeyTypeError(
                f"key '{key}': variable '{name}' must be a string, got {type_name(item)}"
            )
        result[name] = scalar_text(item)
    return result


def _cmd(key: str, value: Any) -> tuple[str, ...] | str:
    if isinstance(value, str):
        if not value.strip():
            raise KeyTypeError(f"key '{key}' must not be empty")
        return value
    if not isinstance(value, list):
        raise KeyTypeError(f"key '{key}' must be a list of strings, got {type_name(value)}")
    if not value:
        raise KeyTypeError(f"key '{key}' must not be empty")
    return _strings(key, value)


def _call(key: str, value: Any) -> str:
    text = _string(key, value)
    if not _CALL.fullmatch(text):
        raise KeyTypeError(
            f"key '{key}' must be 'module:function' (as 'tools.checks:run_tests'), got '{text}'"
        )
    return text


def _args(key: str, value: Any) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise KeyTypeError(f"key '{key}' must be a list, got {type_name(value)}")
    return tuple(value)


def _kwargs(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise KeyTypeError(f"key '{key}' must be a table, got {type_name(value)}")
    return dict(value)


def _matrix(key: str, value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise KeyTypeError(f"key '{key}' must be a table of lists, got {type_name(value)}")
    if not value:
        raise KeyTypeError(f"key '{key}' must not be empty")
    result: dict[str, tuple[str, ...]] = {}
    for name, values in value.items():
        where = f"key '{key}': '{name}'"
        if not name.isidentifier():
            raise KeyTypeError(f"{where} must be a name usable as a placeholder ({{{name}}})")
        if name in RESERVED_PARAMS:
            raise KeyTypeError(f"{where} is a reserved placeholder name")
        if not isinstance(values, list) or not values:
            got = "an empty list" if isinstance(values, list) else type_name(values)
            raise KeyTypeError(f"{where} must be a non-empty list, got {got}")
        texts: list[str] = []
        for item in values:
            if not isinstance(item, (str, int, float, bool)):
                raise KeyTypeError(
                    f"{where} values must be strings, numbers or booleans, got {type_name(item)}"
                )
            text = scalar_text(item)
            if text in texts:
                raise KeyTypeError(f"{where} repeats the value '{text}'")
            texts.append(text)
        result[name] = tuple(texts)
    return result


def _check(key: str, value: Any) -> str:
    text = _string(key, value)
    if text not in ("mtime", "hash"):
        raise KeyTypeError(f"key '{key}' must be \"mtime\" or \"hash\", got '{text}'")
    return text


_TASK_CONVERTERS: dict[str, Callable[[str, Any], Any]] = {
    "cmd": _cmd,
    "call": _call,
    "args": _args,
    "kwargs": _kwargs,
    "deps": _strings,
    "inputs": _strings,
    "outputs": _strings,
    "foreach": _strings,
    "matrix": _matrix,
    "group": _string,
    "pool": _string,
    "cwd": _string,
    "env": _env,
    "shell": _boolean,
    "timeout": _positive_number,
    "always": _boolean,
    "check": _check,
    "description": _string,
    "extends": _string,
}

_BUILD_CONVERTERS: dict[str, Callable[[str, Any], Any]] = {
    "default": _strings,
    "jobs": _positive_int,
    "env": _env,
    "keep_runs": _positive_int,
    "stall_after": _positive_number,
}


def convert_task_key(key: str, value: Any) -> Any:
    """Check and normalise one key of a task or template (the key is known to exist)."""
    return _TASK_CONVERTERS[key](key, value)


def convert_build_key(key: str, value: Any) -> Any:
    """Check and normalise one key of `[build]`."""
    return _BUILD_CONVERTERS[key](key, value)


def check_combination(keys: dict[str, Any]) -> None:
    """Rules between keys, checked on a task once `extends` is resolved."""
    cmd = keys.get("cmd")
    shell = keys.get("shell", False)
    if cmd is not None and keys.get("call") is not None:
        raise KeyTypeError("both 'cmd' and 'call' are set; a task runs one or the other")
    if isinstance(cmd, str) and not shell:
        raise KeyTypeError(
            "key 'cmd' is a string: set shell = true to run it with /bin/sh -c, "
            "or give a list of arguments"
        )
    if shell and isinstance(cmd, tuple):
        raise KeyTypeError("shell = true needs 'cmd' to be one string, got a list")
    if shell and keys.get("call") is not None:
        raise KeyTypeError("shell = true applies to 'cmd', not 'call'")
    if (keys.get("args") or keys.get("kwargs")) and keys.get("call") is None:
        raise KeyTypeError("'args' and 'kwargs' are only used with 'call'")
    if keys.get("foreach") and keys.get("matrix"):
        raise KeyTypeError("'foreach' and 'matrix' cannot both be set on one task")
