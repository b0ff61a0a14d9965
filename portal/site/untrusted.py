"""Text the portal did not write, made inert for the site: the one place with these rules.

Untrusted is everything that does not come from the portal's own code: data
cards (front matter and every section), ``params.yaml`` titles and release
notes (through each release's ``CHANGELOG.md``), ``challenge.yaml``,
``algorithm.yaml`` fields, ``leaderboard.csv``, model cards, MLflow tags and
artifacts (``record.json``, log tails, pip freeze) and ``publications.json``.
A page never puts such text on the site unescaped; it goes through one of:

- :func:`text`: an HTML context the Markdown engine does not read (an attribute value,
  the inside of a raw HTML block): HTML-escaped. Text between inline HTML tags on a
  Markdown page *is* read as Markdown: it takes :func:`inline`.
- :func:`inline`: a Markdown line or table cell: HTML-escaped, and every Markdown
  metacharacter backslash-escaped, so ``[x](javascript:…)`` or ``{: onclick=…}``
  stays text.
- :func:`title`: a page title in the front matter; the theme puts it raw into
  ``<title>``, the header and the search index, so it is HTML-escaped here.
- :func:`render_markdown` / :func:`html_block`: longer Markdown (a card section,
  release notes, a model card) rendered by markdown-it with raw HTML off, images
  not loaded, and only http(s)/mailto links; the site's own Markdown engine, which
  keeps raw HTML, never sees it.
- :func:`plain`: a title for the book's theme, which escapes it in some places only.
- :func:`link`, :func:`code`, :func:`fenced`, :func:`preformatted`: a link whose
  target is checked, inline code, a code block whose fence the text cannot close,
  and a log tail.
- :func:`json_for_script`: JSON for ``<script type="application/ld+json">`` with
  ``<``, ``>`` and ``&`` escaped, so no ``</script>`` can end the element.

The site's Content-Security-Policy (``theme/main.html``) is the second line: it
allows only the site's own script files, so a mistake here still runs nothing.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|>])")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# C0 controls, DEL and white space: browsers drop them inside a scheme ("java\tscript:")
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")
_BACKTICKS = re.compile(r"`+")
_LOOKALIKES = str.maketrans(
    {"<": "\u2039", ">": "\u203a", "&": "\uff06", '"': "\u201d", "'": "\u2019"}
)


def safe_url(url: object) -> str | None:
    """``url`` when it is an absolute http(s) or mailto address, else ``None``.

    Relative links are refused too: in a team's or an organiser's text they
    point into a folder the site does not publish.
    """
    raw = str(url or "").strip()
    if not raw or _URL_NOISE.search(raw):
        return None
    try:
        scheme = urlsplit(raw).scheme.lower()
    except ValueError:
        return None
    return raw if scheme in SAFE_SCHEMES else None


def text(value: object) -> str:
    """Untrusted text for an HTML context (element content or a quoted attribute)."""
    return html.escape(str(value), quote=True)


def inline(value: object) -> str:
    """A short untrusted string (a title, a team name) for a Markdown line or table cell."""
    escaped = html.escape(" ".join(str(value).split()), quote=True)
    return _MARKDOWN_SPECIALS.sub(r"\\\1", escaped)


def title(value: object) -> str:
    """A page title for the front matter: one line, HTML-escaped (the theme prints it raw)."""
    return html.escape(" ".join(str(value).split()), quote=True)


def plain(value: object) -> str:
    """One line with HTML's special characters replaced by look-alikes, for a third-party
    template that prints a value escaped in one place and raw in another (the book's
    theme prints its title both ways): nothing to escape, nothing to double-escape."""
    return " ".join(str(value).split()).translate(_LOOKALIKES)


def code(value: object) -> str:
    """Untrusted text as inline code for a Markdown page: a raw ``<code>`` (no backtick can
    end it) whose content is escaped as :func:`inline` (the engine reads Markdown there)."""
    return f"<code>{inline(value)}</code>"


def link(label: object, url: object) -> str:
    """For a Markdown page: a raw ``<a>`` when ``url`` is http(s)/mailto, else the label
    alone; the label is escaped as :func:`inline` either way."""
    target = safe_url(url)
    if target is None:
        return inline(label)
    return f'<a href="{text(target)}" rel="nofollow noopener noreferrer">{inline(label)}</a>'


def fenced(body: str, lang: str = "text", indent: str = "") -> list[str]:
    """A fenced code block whose fence is longer than any run of backticks in ``body``."""
    longest = max((len(m) for m in _BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    lines = [f"{indent}{line}" if line.strip() else "" for line in body.rstrip().splitlines()]
    return [f"{indent}{fence}{lang}", *lines, f"{indent}{fence}"]


def slug(value: object) -> str:
    """A CSS class or anchor part from a value: lower case, ``a-z0-9`` and ``-`` only."""
    return re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-") or "none"


def json_for_script(data: object) -> str:
    """JSON safe inside ``<script type="application/ld+json">``: no ``</script>``, no ``<!--``."""
    raw = json.dumps(data, ensure_ascii=False)
    return (
        raw.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(body: str, *, heading_shift: int = 2) -> str:
    """Untrusted Markdown -> HTML with no raw HTML, no images, no unsafe links."""
    md = _parser()
    tokens = md.parse(body)
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
                href = safe_url(child.attrGet("href"))
                child.attrs.pop("href", None)
                if href is not None:
                    child.attrSet("href", href)
                    child.attrSet("rel", "nofollow noopener noreferrer")
    return md.renderer.render(tokens, md.options, {})


def html_block(body: str, css_class: str = "portal-untrusted") -> str:
    """Untrusted Markdown as a raw HTML block of a generated page: kept as is by the site's
    engine (Python-Markdown), which therefore never parses the text itself.

    Blank lines are removed (they would end the raw block); inside ``<pre>``
    they are kept as an entity so code keeps its shape.
    """
    rendered = render_markdown(body)
    while _BLANK_LINE.search(rendered):
        rendered = _BLANK_LINE.sub("\n&#10;", rendered)
    return f'<div class="{text(css_class)}">\n{rendered.strip()}\n</div>\n'


def preformatted(body: str) -> str:
    """Untrusted output (a log tail) as an inert ``<pre>`` block: no Markdown, no HTML."""
    escaped = html.escape(body.rstrip("\n"), quote=False)
    while _BLANK_LINE.search(escaped):
        escaped = _BLANK_LINE.sub("\n&#10;", escaped)
    return f'<div class="portal-untrusted"><pre><code>{escaped}\n</code></pre></div>\n'
