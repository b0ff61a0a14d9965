"""Text the portal did not write: team model cards, titles, names.

Team-provided Markdown is rendered here, not by the site's Markdown engine,
with raw HTML switched off: ``<script>``, ``<img onerror=…>`` and the like come
out as visible, inert text. Images are not loaded (a remote one would be a
request outside the site; a relative one points into the team's folder, not
the site), links keep only safe schemes, and headings are moved down so a card
cannot take over the page's outline.
"""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|>])")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str, *, heading_shift: int = 2) -> str:
    """Team Markdown -> HTML with no raw HTML, no images, no unsafe links."""
    md = _parser()
    tokens = md.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            level = min(6, int(token.tag[1]) + heading_shift)
            token.tag = f"h{level}"
        for child in token.children or []:
            if child.type == "image":
                alt = "".join(c.content for c in child.children or []) or "image"
                child.type, child.tag, child.children = "text", "", None
                child.content = f"[image not shown: {alt}]"
            elif child.type == "link_open":
                href = child.attrGet("href") or ""
                if href.startswith(_SAFE_SCHEMES):
                    child.attrSet("rel", "nofollow noopener noreferrer")
                else:  # relative links point into the team's folder, not the site
                    child.attrs.pop("href", None)
    return md.renderer.render(tokens, md.options, {})


def html_block(text: str, css_class: str = "portal-untrusted") -> str:
    """A raw HTML block for a generated Markdown page: kept as is by the site's engine.

    Blank lines are removed (they would end the raw block); inside ``<pre>``
    they are kept as an entity so code keeps its shape.
    """
    rendered = render_markdown(text)
    while _BLANK_LINE.search(rendered):
        rendered = _BLANK_LINE.sub("\n&#10;", rendered)
    return f'<div class="{css_class}">\n{rendered.strip()}\n</div>\n'


def preformatted(text: str) -> str:
    """Untrusted output (a log tail) as an inert ``<pre>`` block: no Markdown, no HTML."""
    body = html.escape(text.rstrip("\n"), quote=False)
    while _BLANK_LINE.search(body):
        body = _BLANK_LINE.sub("\n&#10;", body)
    return f'<div class="portal-untrusted"><pre><code>{body}\n</code></pre></div>\n'


def inline(text: object) -> str:
    """A short untrusted string (a title, a team name) for a Markdown line or table cell."""
    escaped = html.escape(str(text), quote=True)
    return _MARKDOWN_SPECIALS.sub(r"\\\1", escaped).replace("\n", " ")
