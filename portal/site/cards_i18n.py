"""Data cards in a second language: ``data_cards/<id>.<language>.md`` beside the card.

The translation has the card's layout: YAML front matter with the reader-facing fields
(:data:`TRANSLATED_FIELDS`: ``title``, ``summary``, ``provenance_note``), then the
Datasheet sections under their headings in that language (:data:`SECTION_NAMES`). The
machine-readable fields (licence, task, splits, de-identification...) are the card's
own and are not repeated. Every field or section missing from the translation is
reported by the build (``portal site build`` lists them) and the page shows the English
text under a notice; an unknown heading or field is an error naming the file and the
line to fix, like any card error.
"""

from __future__ import annotations

from pathlib import Path

from portal.config import read_text_file
from portal.errors import ConfigError
from portal.release.cards import DATASHEET_SECTIONS, sections_of, split_front_matter

TRANSLATED_FIELDS = ("title", "summary", "provenance_note", "reading_note")
#: the translation's words of the challenge's schema (class names, the values of its
#: flags), which the site's pages show through :func:`portal.site.i18n.t`
VOCABULARY = "vocabulary"
#: The Datasheet headings of each language, by the card's (English) heading.
SECTION_NAMES = {
    "fr": {
        "Motivation": "Motivation",
        "Composition": "Composition",
        "Collection process": "Collecte",
        "Preprocessing and labelling": "Prétraitement et annotation",
        "Uses": "Usages",
        "Distribution": "Diffusion",
        "Maintenance": "Maintenance",
    }
}


def translation_path(card_path: Path, language: str) -> Path:
    return Path(card_path).with_name(f"{Path(card_path).stem}.{language}.md")


def load_translation(card_path: Path, language: str) -> tuple[dict, dict[str, str]]:
    """(front matter fields, sections by English heading) of the card's translation; both
    empty when there is none. Raises ConfigError on a field or heading it does not know."""
    path = translation_path(card_path, language)
    if not path.exists():
        return {}, {}
    meta, body = split_front_matter(read_text_file(path).replace("\r\n", "\n"), path)
    unknown = sorted(set(meta) - set(TRANSLATED_FIELDS) - {VOCABULARY})
    words = meta.pop(VOCABULARY, None) or {}
    if not isinstance(words, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in words.items()
    ):
        unknown.append(f"{VOCABULARY} (must map English words to translations)")
        words = {}
    names = {local: english for english, local in SECTION_NAMES.get(language, {}).items()}
    sections = {}
    for heading, text in sections_of(body).items():
        if heading not in names:
            unknown.append(f"section '## {heading}'")
            continue
        sections[names[heading]] = text
    if unknown:
        raise ConfigError(
            f"{path}: {len(unknown)} unknown field(s) or section(s): {', '.join(unknown)}.",
            hint=f"a translation holds {', '.join(TRANSLATED_FIELDS)} and the Datasheet "
            f"sections under {', '.join(SECTION_NAMES.get(language, {}).values())} "
            "(docs/data-cards.md).",
        )
    fields = {k: str(v) for k, v in meta.items() if v and k in TRANSLATED_FIELDS}
    if words:
        fields[VOCABULARY] = words
    return fields, sections


def translate_card(challenge, language: str) -> set[str]:
    """Put the translation of ``challenge``'s card in place (title, summary, note, sections);
    returns what is missing from it (the English text stays, and the page says so)."""
    path = challenge.card_path
    fields, sections = load_translation(path, language)
    where = translation_path(path, language).name
    missing = set()
    meta = challenge.card.meta
    wanted = [f for f in TRANSLATED_FIELDS if getattr(meta, f, None)]
    update = {}
    for name in wanted:
        if name in fields:
            update[name] = fields[name]
        else:
            missing.add(f"data card {where}: field {name}")
    localized = dict(challenge.card.sections)
    for name in challenge.card.sections:
        if name in sections:
            localized[name] = sections[name]
        elif name in DATASHEET_SECTIONS or name:
            missing.add(f"data card {where}: section {name}")
            localized[name] = (
                "*(Section non traduite : texte anglais.)*\n\n" + challenge.card.sections[name]
                if language == "fr"
                else challenge.card.sections[name]
            )
    challenge.card = challenge.card.model_copy(
        update={"meta": meta.model_copy(update=update), "sections": localized}
    )
    if "title" in fields:
        challenge.title = fields["title"]
    challenge.vocabulary = dict(fields.get(VOCABULARY, {}))
    challenge.missing_translation = sorted(missing)
    return missing
