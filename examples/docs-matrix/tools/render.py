"""Render the guide of one language in one edition: `web` (HTML pages) or `print` (plain text).

Called by tuibuild in a worker process (`call = "tools.render:render"`), once per cell of the
edition x language matrix. The source is a small Markdown subset: `# Title`, paragraphs, `- `
lists and `code` spans. Every edition writes `manifest.txt`, the task's declared output.
"""

from __future__ import annotations

import html
import re
import textwrap
from pathlib import Path

LANG_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch"}
_CODE = re.compile(r"`([^`]+)`")


def _blocks(text: str) -> list[tuple[str, str]]:
    """("title" | "para" | "item", text) in order; paragraphs joined to one line."""
    blocks: list[tuple[str, str]] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(("para", " ".join(para)))
            para.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("# "):
            flush()
            blocks.append(("title", stripped[2:]))
        elif stripped.startswith("- "):
            flush()
            blocks.append(("item", stripped[2:]))
        else:
            para.append(stripped)
    flush()
    return blocks


def _html_inline(text: str) -> str:
    return _CODE.sub(r"<code>\1</code>", html.escape(text, quote=False))


def _web(chapters: list[tuple[str, list[tuple[str, str]]]], lang: str, out: Path) -> list[Path]:
    written = []
    nav = "".join(
        f'<li><a href="{stem}.html">{html.escape(blocks[0][1])}</a></li>'
        for stem, blocks in chapters
    )
    for stem, blocks in chapters:
        body: list[str] = []
        in_list = False
        for kind, text in blocks:
            if kind != "item" and in_list:
                body.append("</ul>")
                in_list = False
            if kind == "title":
                body.append(f"<h1>{_html_inline(text)}</h1>")
            elif kind == "para":
                body.append(f"<p>{_html_inline(text)}</p>")
            else:
                if not in_list:
                    body.append("<ul>")
                    in_list = True
                body.append(f"<li>{_html_inline(text)}</li>")
        if in_list:
            body.append("</ul>")
        page = (
            f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
            f"<title>{html.escape(blocks[0][1])}</title></head>\n"
            f"<body><nav><ul>{nav}</ul></nav>\n<main>\n"
            + "\n".join(body)
            + "\n</main></body></html>\n"
        )
        path = out / f"{stem}.html"
        path.write_text(page, encoding="utf-8")
        written.append(path)
    index = out / "index.html"
    index.write_text(
        f'<!doctype html>\n<meta http-equiv="refresh" content="0; url={chapters[0][0]}.html">\n',
        encoding="utf-8",
    )
    return [index, *written]


def _print(chapters: list[tuple[str, list[tuple[str, str]]]], lang: str, out: Path) -> list[Path]:
    lines = [f"numstat — {LANG_NAMES.get(lang, lang)}", ""]
    for number, (_, blocks) in enumerate(chapters, start=1):
        for kind, text in blocks:
            plain = _CODE.sub(r"'\1'", text)
            if kind == "title":
                heading = f"{number}. {plain}"
                lines += (
                    ["", heading, "=" * len(heading), ""]
                    if lines[-1]
                    else [heading, "=" * len(heading), ""]
                )
            elif kind == "para":
                lines += [*textwrap.wrap(plain, 72), ""]
            else:
                lines += textwrap.wrap(plain, 72, initial_indent="  * ", subsequent_indent="    ")
        lines.append("")
    path = out / "guide.txt"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return [path]


def render(edition: str, lang: str, out_dir: str) -> int:
    """Render content/<lang>/*.md as `edition` into `out_dir`; returns the number of files."""
    sources = sorted(Path("content", lang).glob("*.md"))
    if not sources:
        raise FileNotFoundError(f"no chapters in content/{lang}")
    chapters = [(path.stem, _blocks(path.read_text(encoding="utf-8"))) for path in sources]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writers = {"web": _web, "print": _print}
    if edition not in writers:
        raise ValueError(f"unknown edition {edition!r}: expected one of {sorted(writers)}")
    written = writers[edition](chapters, lang, out)
    (out / "manifest.txt").write_text("".join(f"{p.name}\n" for p in written), encoding="utf-8")
    print(f"{edition}/{lang}: {len(written)} file(s) from {len(sources)} chapter(s)")
    return len(written)
