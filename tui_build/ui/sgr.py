"""The colours a line of output starts with: SGR state carried from line to line.

A terminal keeps colours across lines: a tool may turn red on, print three lines, then reset.
The output pane decodes each visible line alone (:mod:`.ansi`), so the line store notes, as
output arrives, which SGR sequence is in force where each line starts (:func:`sgr_after`), and
the pane decodes that prefix with the line. No Rich here: the line store imports this in the
UI's process before Textual (and Rich) are loaded.
"""

from __future__ import annotations

import functools
import re

_SGR_PARAMS = re.compile(r"\x1b\[([0-9;:]*)m")
_ON = {1: "1", 2: "2", 3: "3", 4: "4", 5: "5", 7: "7", 8: "8", 9: "9"}
_OFF = {21: ("1",), 22: ("1", "2"), 23: ("3",), 24: ("4",), 25: ("5",), 27: ("7",), 28: ("8",)}
_OFF[29] = ("9",)


def sgr_after(state: str, line: str) -> str:
    """The SGR state in force after `line`, starting from `state`, as one SGR sequence ("" for
    the terminal's default): what a line printed after this one starts with.

    Terminals carry colours across lines (a tool may turn red on, print three lines, reset);
    a pane that decodes each line alone would show only the first one red. Attributes
    (bold ... strike) and colours (16, 256 and true colour, foreground and background) are
    followed; anything else in an SGR sequence is ignored.
    """
    last = line.rfind("\x1b[")
    if last < 0:
        return state
    if line.startswith(("\x1b[0m", "\x1b[m"), last):
        return ""  # the common case: a coloured line that resets at its end
    return _applied(state, tuple(_SGR_PARAMS.findall(line)))


@functools.lru_cache(maxsize=1024)
def _applied(state: str, sequences: tuple[str, ...]) -> str:
    """`state` after the SGR sequences (their parameters) of a line: lines of one tool repeat
    the same few, so this is looked up far more often than worked out."""
    flags: dict[str, None] = {}
    colours: dict[str, str] = {}
    for params in ([state[2:-1]] if state else []) + list(sequences):
        codes = params.replace(":", ";").split(";")
        i = 0
        while i < len(codes):
            code = int(codes[i]) if codes[i].isdigit() else 0
            if code == 0:
                flags.clear()
                colours.clear()
            elif code in _ON:
                flags[_ON[code]] = None
            elif code in _OFF:
                for flag in _OFF[code]:
                    flags.pop(flag, None)
            elif code in (38, 48):
                target = "fg" if code == 38 else "bg"
                kind = codes[i + 1] if i + 1 < len(codes) else ""
                width = 3 if kind == "5" else 5 if kind == "2" else 1
                colours[target] = ";".join(codes[i : i + width])
                i += width - 1
            elif 30 <= code <= 37 or 90 <= code <= 97:
                colours["fg"] = str(code)
            elif 40 <= code <= 47 or 100 <= code <= 107:
                colours["bg"] = str(code)
            elif code == 39:
                colours.pop("fg", None)
            elif code == 49:
                colours.pop("bg", None)
            i += 1
    parts = [*flags, *(colours[k] for k in ("fg", "bg") if k in colours)]
    return f"\x1b[{';'.join(parts)}m" if parts else ""
