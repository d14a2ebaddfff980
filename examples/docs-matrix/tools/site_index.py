"""Write build/index.html: one link per edition and language, from the rendered manifests."""

from __future__ import annotations

import html
import sys
from pathlib import Path


def main(root: str = "build") -> int:
    manifests = sorted(Path(root).glob("*/*/manifest.txt"))
    rows = []
    for manifest in manifests:
        edition, lang = manifest.parent.parent.name, manifest.parent.name
        first = manifest.read_text(encoding="utf-8").split()[0]
        link = html.escape(f"{edition}/{lang}/{first}")
        rows.append(f'<li><a href="{link}">{html.escape(edition)} · {html.escape(lang)}</a></li>')
    page = '<!doctype html>\n<meta charset="utf-8"><title>numstat guides</title>\n<ul>\n'
    Path(root, "index.html").write_text(page + "\n".join(rows) + "\n</ul>\n", encoding="utf-8")
    print(f"{len(rows)} edition(s) indexed")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
