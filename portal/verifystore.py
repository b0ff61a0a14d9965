"""The verifier's catalogue of the input's identifying values, on disk.

An ingest of a national year of exams (about 20,000) catalogues some 17 KB of
identifying values per exam: held in memory by the command and by every verify
worker, that would grow with the export. :class:`StoredValues` keeps them in one
SQLite file instead and answers the verifier's questions exactly as
:class:`~portal.verify.IdentifyingValues` does:

- workers catalogue each input file in memory (one file's values), and the command
  adds them to the store (``merge``), keeping the first source of each value;
- before it checks an output file, the verifier gives the store every value of that
  file (``prefetch``); the store works out every key the search could ask for (words,
  phrase and digit windows, dates, the value itself) and fetches the ones it holds
  with one query. The search then runs on these few rows, unchanged.

Memory then stays flat: a file's values, the SQLite page cache and the
lengths of the phrases and digit strings. Like ``verify.py``, this module shares no
code with the de-identifier.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from portal.verify import DATE_IN_TEXT, DIGIT_RUN, IdentifyingValues, _date_key, _tokens

# one letter per field of IdentifyingValues
_KINDS = {
    "tokens": "t",
    "phrases": "p",
    "digits": "g",
    "dates": "d",
    "uids": "u",
    "exact": "e",
    "benign": "b",
}
_FIELD_OF = {letter: name for name, letter in _KINDS.items()}
CACHE_KB = 8192  # SQLite page cache per connection
RESET_AT = 50_000  # fetched keys kept before they are dropped (one file holds far fewer)
_NOT_DIGIT = re.compile(r"\D")


class StoredValues(IdentifyingValues):
    """An :class:`IdentifyingValues` whose values live in a SQLite file.

    ``writable`` opens it for ``merge``/``add_table_values``; ``commit`` makes what was
    added visible to readers (the verify workers open the same file read-only: a
    pickled store is its path).
    """

    def __init__(self, path: Path, *, writable: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.writable = writable
        if writable:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                f"PRAGMA cache_size=-{CACHE_KB}; "
                "CREATE TABLE IF NOT EXISTS value "
                "(key TEXT, kind TEXT, source TEXT, PRIMARY KEY (key, kind)) WITHOUT ROWID; "
                "CREATE TABLE IF NOT EXISTS size (kind TEXT, n INTEGER, PRIMARY KEY (kind, n));"
                "BEGIN;"
            )
        else:
            uri = f"file:{self.path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._db.execute(f"PRAGMA cache_size=-{CACHE_KB}")
        self._phrase_sizes: set[int] = set()
        self._digit_sizes: set[int] = set()
        for kind, n in self._db.execute("SELECT kind, n FROM size"):
            (self._phrase_sizes if kind == "p" else self._digit_sizes).add(n)
        self._asked: set[str] = set()  # keys already looked up since the last reset
        self._texts: set[str] = set()  # texts whose keys were looked up

    def __reduce__(self):
        return (_open_read_only, (str(self.path),))

    # -- writing -----------------------------------------------------------------------------
    def merge(self, state: dict) -> None:
        rows = [
            (key, _KINDS[name], source)
            for name in self._FIELDS
            for key, source in state[name].items()
        ]
        rows += [(value, "b", "") for value in state["benign"]]
        self._db.executemany("INSERT OR IGNORE INTO value VALUES (?, ?, ?)", rows)
        sizes = {("p", len(k.split(" "))) for k in state["phrases"]}
        sizes |= {("g", len(k)) for k in state["digits"]}
        new = sizes - {("p", n) for n in self._phrase_sizes} - {("g", n) for n in self._digit_sizes}
        if new:
            self._db.executemany("INSERT OR IGNORE INTO size VALUES (?, ?)", sorted(new))
            for kind, n in new:
                (self._phrase_sizes if kind == "p" else self._digit_sizes).add(n)
        self._asked.clear()
        self._texts.clear()

    def add_table_values(self, values: Iterable[str], source: str) -> None:
        found = IdentifyingValues()
        found.add_table_values(values, source)
        self.merge(found.state())

    def commit(self) -> None:
        if self.writable:
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")

    def close(self) -> None:
        if self.writable:
            self._db.execute("COMMIT")
        self._db.close()

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM value").fetchone()[0]

    # -- reading -----------------------------------------------------------------------------
    def _sizes(self) -> tuple[set[int], set[int]]:
        return self._phrase_sizes, self._digit_sizes

    def _keys(self, text: str) -> set[str]:
        """Every key ``search(text)`` or the verifier's own checks of ``text`` may look up."""
        stripped = text.strip().strip("\x00")
        tokens = _tokens(text)
        keys = {text, stripped, stripped[:8], *tokens}
        if tokens:
            keys.add(" ".join(tokens))
        for size in self._phrase_sizes:
            for i in range(len(tokens) - size + 1):
                keys.add(" ".join(tokens[i : i + size]))
        if self._digit_sizes:
            for run in DIGIT_RUN.findall(text):
                digits = _NOT_DIGIT.sub("", run)
                for size in self._digit_sizes:
                    for i in range(len(digits) - size + 1):
                        keys.add(digits[i : i + size])
        for match in DATE_IN_TEXT.finditer(text):
            key = _date_key(match)
            if key:
                keys.add(key)
        return keys

    def prefetch(self, texts: Iterable[str]) -> None:
        """Fetch what the store holds for every key of ``texts`` (one query)."""
        if len(self._asked) + len(self._texts) > RESET_AT:
            self.reset()
        keys: set[str] = set()
        for text in texts:
            if text not in self._texts:
                self._texts.add(text)
                keys |= self._keys(text)
        keys -= self._asked
        if not keys:
            return
        self._asked |= keys
        rows = self._db.execute(
            "SELECT key, kind, source FROM value WHERE key IN (SELECT value FROM json_each(?))",
            (json.dumps(list(keys)),),
        )
        for key, kind, source in rows:
            name = _FIELD_OF[kind]
            if name == "benign":
                self.benign.add(key)
            elif name == "phrases":
                self.phrases.setdefault(tuple(key.split(" ")), source)
            else:
                getattr(self, name).setdefault(key, source)

    def reset(self) -> None:
        """Forget the fetched rows (memory stays that of one file's values)."""
        for name in self._FIELDS:
            getattr(self, name).clear()
        self.benign.clear()
        self._asked.clear()
        self._texts.clear()

    def search(self, text: str, *, words: bool = True):
        if text not in self._texts:
            self.prefetch((text,))
        return super().search(text, words=words)


def _open_read_only(path: str) -> StoredValues:
    return StoredValues(Path(path))
