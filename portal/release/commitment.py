"""Commitments to embargoed labels: publish a hash now, prove the labels later.

While a split is embargoed its labels are withheld, and each release carries
``label_commitments.json`` with ``sha256(nonce || canonical labels)``. The
nonce is derived from the de-identification key (HMAC), so it stays secret,
and rebuilding a release gives the same bytes. The first commitment is carried
forward unchanged; when the embargo ends the release that publishes the labels
reveals the nonce and records whether the labels match what was committed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

from portal.errors import ConfigError, InputError
from portal.release.cards import Card, Embargo

FILE = "label_commitments.json"


def scheme(fields: tuple[str, ...]) -> str:
    """How a commitment is computed, published beside it so that anyone can check it."""
    columns = ", ".join(("exam_id", "label", *fields))
    return (
        f"sha256(nonce || UTF-8 JSON of [[{columns}], ...] sorted by exam_id, compact separators)"
    )


def policies_at(card: Card, date: str) -> dict[str, str]:
    """Each split's policy on the release date: public, embargoed or sequestered."""
    try:
        day = dt.date.fromisoformat(date)
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"release date {date!r} is not a calendar date YYYY-MM-DD ({error}).",
            hint="correct the release's `date:` under `releases:` in params.yaml.",
        ) from None
    out = {}
    for split, policy in card.meta.split_policy.items():
        if isinstance(policy, Embargo):
            out[split] = "embargoed" if day < policy.embargoed_until else "public"
        else:
            out[split] = policy
    return out


def canonical(
    labels: dict[str, dict[str, str]],
    splits: dict[str, str],
    split: str,
    fields: tuple[str, ...] = (),
) -> bytes:
    """The committed bytes: each exam's label and ``fields`` (the card's hard-case flags,
    part of the readers' judgement), in a form anyone can rebuild."""
    rows = [
        [exam, labels[exam].get("label", ""), *(labels[exam].get(f, "") for f in fields)]
        for exam in sorted(labels)
        if splits.get(exam) == split
    ]
    return json.dumps(rows, separators=(",", ":")).encode()


def nonce(key: bytes, challenge: str, split: str) -> bytes:
    return hmac.new(key, f"label commitment|{challenge}|{split}".encode(), hashlib.sha256).digest()


def commit(nonce_bytes: bytes, payload: bytes) -> str:
    return "sha256:" + hashlib.sha256(nonce_bytes + payload).hexdigest()


def commitments(
    challenge: str,
    version: str,
    key: bytes | None,
    labels: dict[str, dict[str, str]],
    splits: dict[str, str],
    policies: dict[str, str],
    parent: Path | None,
    fields: tuple[str, ...] = (),
) -> tuple[dict | None, str]:
    """The commitments file for this release (None if none is needed), and a changelog note."""
    previous = {}
    if parent is not None and (parent / FILE).exists():
        try:
            previous = json.loads((parent / FILE).read_text(encoding="utf-8"))["embargoed"]
        except (ValueError, UnicodeDecodeError, KeyError, TypeError) as error:
            raise InputError(
                f"not a commitments file ({type(error).__name__}: {error}).",
                path=parent / FILE,
                hint="restore the published release (`dvc pull` or `dvc checkout`); a "
                "published release never changes.",
            ) from None
    embargoed = [s for s, p in policies.items() if p == "embargoed"]
    revealing = [s for s in previous if policies.get(s) == "public"]
    if not embargoed and not revealing:
        return None, ""
    if key is None:
        raise ConfigError(
            "a de-identification key is needed to commit to or reveal embargoed labels.",
            hint="set PORTAL_DEID_KEY (hex), as for `portal ingest`.",
        )
    data: dict = {"scheme": scheme(fields), "embargoed": {}, "revealed": {}}
    for split in embargoed:
        if split in previous:
            data["embargoed"][split] = previous[split]  # the first commitment stands
        else:
            data["embargoed"][split] = {
                "commitment": commit(
                    nonce(key, challenge, split), canonical(labels, splits, split, fields)
                ),
                "committed_in": version,
                "exams": sum(1 for e in labels if splits.get(e) == split),
            }
    notes = []
    for split in revealing:
        secret = nonce(key, challenge, split)
        committed = previous[split]["commitment"]
        matches = commit(secret, canonical(labels, splits, split, fields)) == committed
        data["revealed"][split] = {**previous[split], "nonce": secret.hex(), "matches": matches}
        notes.append(
            f"Labels of {split} are released; they "
            + (
                "match the commitment published in "
                if matches
                else "DIFFER from the commitment published in "
            )
            + f"{previous[split]['committed_in']} (anyone can check: {FILE})."
        )
    return data, " ".join(notes)
