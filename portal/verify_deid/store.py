"""The verifier's catalogue of the input's identifying values, on disk.

An ingest of a national year of exams (about 20,000) catalogues some 17 KB of
identifying values per exam: held in memory by the command and by every verify
worker, that would grow with the export. :class:`StoredValues` keeps them in one
SQLite file instead and answers the verifier's questions exactly as
:class:`~portal.verify_deid.verifier.IdentifyingValues` does:

- workers catalogue each input file in memory (one file's values), and the command
  adds them to the store (``merge``), keeping the first source of each value;
- before it checks an output file, the verifier gives the store every value of that
  file (``prefetch``); the store works out every key the search could ask for (words,
  phrase and digit windows, dates, the value itself), drops those a Bloom filter says
  it cannot hold (almost all: an output holds no input value) and fetches the rest
  with one query. The search then runs on these few rows, unchanged.

Memory then stays almost flat: a file's values, the SQLite page cache, the lengths
of the phrases and digit strings, and the Bloom filter (12 bits a value, about 1.5 MB
for the 20,000 exams of a national year). Like ``verify.py``, this module shares no
code with the de-identifier.
"""

from __future__ import annotations

import json
import re
import sqlite3
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from portal.verify_deid.verifier import (
    DATE_IN_TEXT,
    DIGIT_RUN,
    IdentifyingValues,
    _date_key,
    _tokens,
)

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
CACHE_KB = 2048  # SQLite page cache per connection
RESET_AT = 4_000  # texts remembered as looked up before they and their rows are dropped
# markers of where a phrase (its first word) or a digit string (its first digits) begins:
# in the Bloom filter only, never in SQLite (the keys there are printable text)
PHRASE_START, DIGIT_START = "\x01", "\x02"
BLOOM_BITS_PER_KEY = 12  # with 4 probes: about 0.6 % of absent keys still go to SQLite
BLOOM_PROBES = 4
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
                "CREATE TABLE IF NOT EXISTS input "
                "(output TEXT PRIMARY KEY, patient TEXT, dates TEXT) WITHOUT ROWID;"
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
        self._bloom: np.ndarray | None = None
        if not writable and self._bloom_path.exists():
            self._bloom = np.fromfile(self._bloom_path, dtype=np.uint8)
        self._texts: set[str] = set()  # texts whose keys were looked up

    @property
    def _bloom_path(self) -> Path:
        return self.path.with_name(self.path.name + ".bloom")

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
        self._bloom = None  # stale: rebuilt by the next commit
        self._db.executemany("INSERT OR IGNORE INTO value VALUES (?, ?, ?)", rows)
        sizes = {("p", len(k.split(" "))) for k in state["phrases"]}
        sizes |= {("g", len(k)) for k in state["digits"]}
        new = sizes - {("p", n) for n in self._phrase_sizes} - {("g", n) for n in self._digit_sizes}
        if new:
            self._db.executemany("INSERT OR IGNORE INTO size VALUES (?, ?)", sorted(new))
            for kind, n in new:
                (self._phrase_sizes if kind == "p" else self._digit_sizes).add(n)
        self._texts.clear()

    def add_input_dates(self, output: str, patient: str, dates: dict[str, str]) -> None:
        """The input's dates (by element path) of the file staged as ``output``, for the
        date-interval check: kept here rather than in each file's record in memory."""
        self._db.execute(
            "INSERT OR REPLACE INTO input VALUES (?, ?, ?)",
            (output, patient, json.dumps(dates, separators=(",", ":"))),
        )

    def inputs(self) -> InputDates:
        """Output file -> (patient, the input's dates by path), read from the store."""
        return InputDates(self._db)

    def add_table_values(self, values: Iterable[str], source: str) -> None:
        found = IdentifyingValues()
        found.add_table_values(values, source)
        self.merge(found.state())

    def commit(self) -> None:
        """Make what was added visible to readers, with its Bloom filter."""
        if self.writable:
            self._db.execute("COMMIT")
            self._build_bloom()
            self._db.execute("BEGIN")

    def _build_bloom(self) -> None:
        count = self.count()
        bits = 1 << max(16, (count * BLOOM_BITS_PER_KEY).bit_length())
        bloom = np.zeros(bits // 8, dtype=np.uint8)
        shortest = min(self._digit_sizes, default=0)
        rows = self._db.execute("SELECT key, kind FROM value")
        while chunk := rows.fetchmany(50_000):
            keys = [key for key, _ in chunk]
            keys += [PHRASE_START + key.split(" ")[0] for key, kind in chunk if kind == "p"]
            keys += [DIGIT_START + key[:shortest] for key, kind in chunk if kind == "g"]
            _set_bits(bloom, _hashes(keys))
        self._bloom_path.write_bytes(bloom.tobytes())
        self._bloom = bloom

    def close(self) -> None:
        if self.writable:
            self._db.execute("COMMIT")
        self._db.close()

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM value").fetchone()[0]

    # -- reading -----------------------------------------------------------------------------
    def _sizes(self) -> tuple[set[int], set[int]]:
        return self._phrase_sizes, self._digit_sizes

    def _keys(self, text: str, keys: set[str], starts: dict[str, list]) -> None:
        """Add to ``keys`` every key ``search(text)`` or the verifier's own checks of
        ``text`` may look up, except phrase and digit windows: for those, add to ``starts``
        the marker of each place a window may begin (its first word, its first digits),
        so that windows are made only where the Bloom filter knows such a beginning."""
        stripped = text.strip().strip("\x00")
        tokens = _tokens(text)
        keys.update((text, stripped, stripped[:8], *tokens))
        if tokens:
            keys.add(" ".join(tokens))
        if self._phrase_sizes:
            for i in range(len(tokens) - 1):
                starts.setdefault(PHRASE_START + tokens[i], []).append((tokens, i))
        if self._digit_sizes:
            shortest = min(self._digit_sizes)
            for run in DIGIT_RUN.findall(text):
                digits = _NOT_DIGIT.sub("", run)
                for i in range(len(digits) - shortest + 1):
                    marker = DIGIT_START + digits[i : i + shortest]
                    starts.setdefault(marker, []).append((digits, i))
        for match in DATE_IN_TEXT.finditer(text):
            key = _date_key(match)
            if key:
                keys.add(key)

    def _windows(self, marker: str, places: list, keys: set[str]) -> None:
        """The phrase or digit windows that begin at ``places``."""
        for sequence, i in places:
            if marker[0] == PHRASE_START:
                for size in self._phrase_sizes:
                    if i + size <= len(sequence):
                        keys.add(" ".join(sequence[i : i + size]))
            else:
                for size in self._digit_sizes:
                    if i + size <= len(sequence):
                        keys.add(sequence[i : i + size])

    def prefetch(self, texts: Iterable[str]) -> None:
        """Fetch what the store holds for every key of ``texts``: the Bloom filter drops
        almost all of them, one query fetches the rest."""
        if len(self._texts) > RESET_AT:
            self.reset()
        keys: set[str] = set()
        starts: dict[str, list] = {}
        for text in texts:
            if text not in self._texts:
                self._texts.add(text)
                self._keys(text, keys, starts)
        if not keys and not starts:
            return
        asked: list[str] = []
        if self._bloom is None:  # not committed yet: every window goes to SQLite
            for marker, places in starts.items():
                self._windows(marker, places, keys)
            asked = list(keys)
        else:
            candidates = [*keys, *starts]
            maybe = _test_bits(self._bloom, _hashes(candidates)).tolist()
            windows: set[str] = set()
            for key, hit in zip(candidates, maybe, strict=True):
                if not hit:
                    continue
                if key in starts:
                    self._windows(key, starts[key], windows)
                else:
                    asked.append(key)
            asked += windows - keys
        if not asked:
            return
        rows = self._db.execute(
            "SELECT key, kind, source FROM value WHERE key IN (SELECT value FROM json_each(?))",
            (json.dumps(asked),),
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
        self._texts.clear()

    def search(self, text: str, *, words: bool = True):
        if text not in self._texts:
            self.prefetch((text,))
        return super().search(text, words=words)


class InputDates:
    """What ``verify_tree`` needs of its ``inputs`` mapping, from the store: ``get_many``
    for a batch of outputs, ``get`` and ``items`` like a dict."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def get_many(self, outputs: Iterable[str]) -> dict[str, tuple[str, dict[str, str]]]:
        rows = self._db.execute(
            "SELECT output, patient, dates FROM input "
            "WHERE output IN (SELECT value FROM json_each(?))",
            (json.dumps(list(outputs)),),
        )
        return {output: (patient, json.loads(dates)) for output, patient, dates in rows}

    def get(self, output: str, default=None):
        return self.get_many([output]).get(output, default)

    def items(self):
        for output, patient, dates in self._db.execute("SELECT output, patient, dates FROM input"):
            yield output, (patient, json.loads(dates))


def _hashes(keys: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two 32-bit hashes of each key (CRC-32 and Adler-32: fast, and the same in every
    process, unlike ``hash``), for the double hashing of the Bloom filter."""
    encoded = [key.encode("utf-8", "surrogatepass") for key in keys]
    first = np.fromiter(map(zlib.crc32, encoded), dtype=np.uint64, count=len(encoded))
    step = np.fromiter(map(zlib.adler32, encoded), dtype=np.uint64, count=len(encoded))
    return first, step | np.uint64(1)


def _positions(bloom: np.ndarray, hashes: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The bit positions of each key, shape (probes, keys)."""
    first, step = hashes
    mask = np.uint64(bloom.size * 8 - 1)
    probes = np.arange(BLOOM_PROBES, dtype=np.uint64)[:, None]
    return (first[None, :] + probes * step[None, :]) & mask


def _set_bits(bloom: np.ndarray, hashes: tuple[np.ndarray, np.ndarray]) -> None:
    positions = _positions(bloom, hashes).ravel()
    bits = (np.uint64(1) << (positions & np.uint64(7))).astype(np.uint8)
    np.bitwise_or.at(bloom, positions >> np.uint64(3), bits)


def _test_bits(bloom: np.ndarray, hashes: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    positions = _positions(bloom, hashes)
    bits = (bloom[positions >> np.uint64(3)] >> (positions & np.uint64(7)).astype(np.uint8)) & 1
    return bits.all(axis=0)


def _open_read_only(path: str) -> StoredValues:
    return StoredValues(Path(path))
