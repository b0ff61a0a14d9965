"""One verdict vocabulary for the CLI, the site and its stylesheet; one palette; the French
catalogue keeps every placeholder. Fast checks, no build."""

from __future__ import annotations

import re
import string

from portal.cli import VERDICT_STYLE
from portal.reproduce.verdict import NOT_RUN, NOT_RUN_SLUG, Verdict, verdict_slug
from portal.site import palette
from portal.site.i18n_fr import FRENCH
from portal.site.pages import badge


def test_every_verdict_has_one_slug_a_cli_style_and_a_badge_colour():
    slugs = {v.slug for v in Verdict}
    assert slugs == {"reproduced", "within-noise", "not-reproduced", "failed"}
    assert set(VERDICT_STYLE) == slugs
    assert set(palette.VERDICT_COLOURS) == slugs | {NOT_RUN_SLUG}
    css = palette.badge_css()
    for slug in slugs | {NOT_RUN_SLUG}:
        assert f".md-typeset .verdict-{slug} {{" in css


def test_the_tag_values_map_to_their_slugs():
    assert verdict_slug("within noise") == "within-noise"
    assert verdict_slug(None) == verdict_slug(NOT_RUN) == NOT_RUN_SLUG
    assert verdict_slug("a hand-edited tag") == "unknown"
    assert 'class="verdict verdict-within-noise"' in badge("within noise")
    assert 'class="verdict verdict-not-yet-run"' in badge(None)


def test_badge_colours_are_distinct_and_readable():
    backgrounds = [bg for bg, _ in palette.VERDICT_COLOURS.values()]
    assert len(set(backgrounds)) == len(backgrounds)
    for slug, (background, text) in palette.VERDICT_COLOURS.items():
        assert palette.contrast(background, text) >= 4.5, slug


def test_the_palette_has_no_red_green_pair_for_classes():
    colours = palette.class_colours(["normal", "pathological"])
    assert colours == {"normal": "#0072B2", "pathological": "#E69F00"}  # blue, orange


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_french_text_keeps_the_placeholders_of_its_english_key():
    for english, french in FRENCH.items():
        assert _fields(english) == _fields(french), english
        assert french.strip(), english
        # Markdown that matters keeps its shape: headings and admonitions
        assert re.match(r"^#+ ", english) is None or re.match(r"^#+ ", french), english
