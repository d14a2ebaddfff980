"""The output pane as the dashboard mounts it: task names in its title are text, not markup.

Task names such as ``docs[edition=web,lang=en]`` look like Textual markup; a border title set
from a plain string would be parsed (and rejected). Titles here are always literal.
"""

from __future__ import annotations

from textual.content import Content

from .output_pane import OutputPane


class TaskOutputPane(OutputPane):
    """:class:`OutputPane` whose string titles are shown literally."""

    def render_str(self, text_content: str | Content) -> Content:
        if isinstance(text_content, str):
            return Content(text_content)
        return super().render_str(text_content)
