"""Every internal link of a built site must lead somewhere: a file, and the anchor in it."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class BrokenLink:
    page: str
    link: str
    reason: str

    def __str__(self) -> str:
        return f"{self.page}: {self.link} ({self.reason})"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("id", "name") if tag == "a" else ("id",):
            if values.get(name):
                self.ids.add(values[name])
        for name in ("href", "src"):
            if tag in ("a", "link", "img", "script", "iframe", "source") and values.get(name):
                self.links.append(values[name])


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text("utf-8", errors="replace"))
    return parser


def check(site: Path) -> list[BrokenLink]:
    """Internal links (no scheme, no host) of every HTML page under ``site``."""
    site = Path(site).resolve()
    parsed: dict[Path, _Links] = {p: _parse(p) for p in site.rglob("*.html")}
    broken: list[BrokenLink] = []
    for page, links in parsed.items():
        for link in links.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("//"):
                continue  # leaves the site: a link for the reader, not a request of the page
            base = site if parts.path.startswith("/") else page.parent  # 404.html: from the root
            path = unquote(parts.path).lstrip("/")
            target = page if not parts.path else (base / path).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = str(page.relative_to(site))
            if site not in target.parents and target != site:
                broken.append(BrokenLink(where, link, "points outside the site"))
            elif not target.exists():
                broken.append(BrokenLink(where, link, "no such file"))
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(BrokenLink(where, link, "no such anchor"))
    return broken
