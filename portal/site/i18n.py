"""The site in French and English: the languages, the page text catalogue, and the report of
what is not translated.

Every sentence a generated page shows goes through :meth:`Language.t` with its English
text as the key (a ``str.format`` template). English needs no catalogue; French looks
the key up in :data:`FRENCH` (``portal/site/i18n_fr.py``). A key missing there is
never dropped: the page shows the English text, says at its top that parts of it are
not translated, and the build reports every missing key (``portal site build`` prints
them; the tests fail on any). The same goes for the data cards
(:mod:`portal.site.cards_i18n`) and the hand-written documentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The site's languages: the first is the default, at the site's root; each other one
#: is a full copy of the site under ``<code>/``.
LANGUAGES = ("en", "fr")
NAMES = {"en": "English", "fr": "Français"}


@dataclass
class Language:
    """One language of the site, and what was missing while its pages were written."""

    code: str
    missing: set[str] = field(default_factory=set)
    #: the data cards' own words (class names, flag values) from their translations
    vocabulary: dict[str, str] = field(default_factory=dict)
    page_missing: bool = False  # since the last :meth:`start_page`

    @property
    def default(self) -> bool:
        return self.code == LANGUAGES[0]

    def t(self, text: str, **values) -> str:
        """``text`` in this language, its ``{placeholders}`` filled with ``values``."""
        if not self.default:
            from portal.site.i18n_fr import FRENCH

            catalogue = {"fr": FRENCH}.get(self.code, {})
            if text in catalogue:
                text = catalogue[text]
            elif text in self.vocabulary:
                text = self.vocabulary[text]
            else:
                self.missing.add(text)
                self.page_missing = True
        return text.format(**values) if values else text

    def start_page(self) -> None:
        self.page_missing = False

    def number(self, value: str) -> str:
        """Separators of a formatted number: ``1,234.5`` -> ``1 234,5`` in French."""
        if self.code != "fr":
            return value
        return value.replace(",", "\u202f").replace(".", ",")

    def untranslated_notice(self) -> list[str]:
        """Shown at the top of a page with a missing translation, in the page's language."""
        if not self.page_missing or self.default:
            return []
        return [
            '!!! note "Traduction incomplète"',
            "",
            "    Une partie de cette page n'est pas encore traduite : elle s'affiche en "
            "anglais. La construction du site liste ces passages.",
            "",
        ]


def prefix(code: str) -> str:
    """Where a language's pages live, relative to the site's root."""
    return "" if code == LANGUAGES[0] else f"{code}/"


_current = Language(LANGUAGES[0])


def use(language: Language) -> None:
    """The language of the pages written from now on (the build writes one at a time)."""
    global _current
    _current = language


def current() -> Language:
    return _current


def t(text: str, **values) -> str:
    """``text`` in the current language (see :meth:`Language.t`)."""
    return _current.t(text, **values)


def n(value: str) -> str:
    """A formatted number with the current language's separators."""
    return _current.number(value)
