"""The de-identification key: it makes pseudonyms consistent and must never enter a release.

Looked up, in order: ``PORTAL_DEID_KEY`` (hex); for a *synthetic* export only
(``export.json`` written by ``portal synth``), a key derived from its seed,
since there is no one to protect and anyone can then reproduce the staging
byte for byte; else ``.portal-secrets/<challenge>.key`` (created on first use,
readable by its owner only, ignored by git and DVC).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from portal.errors import ConfigError

SECRETS_DIR = Path(".portal-secrets")
ENV_VAR = "PORTAL_DEID_KEY"


def synthetic_seed(export: Path) -> int | None:
    """The seed of an export made by ``portal synth``; None for any other export."""
    import json

    try:
        described = json.loads((Path(export) / "export.json").read_text())
    except (OSError, ValueError):
        return None
    generator = described.get("generator") or {}
    if generator.get("name") != "portal synth":
        return None
    return int(generator.get("seed", 0))


def key_source(challenge: str, export: Path | None = None) -> str:
    if os.environ.get(ENV_VAR):
        return f"environment ({ENV_VAR})"
    if export is not None and synthetic_seed(export) is not None:
        return "derived from the synthetic export's seed (synthetic data only)"
    return f"secret file {SECRETS_DIR}/{challenge}.key"


def load_key(
    challenge: str,
    *,
    export: Path | None = None,
    directory: Path = SECRETS_DIR,
    create: bool = True,
) -> bytes:
    """The challenge's key, looked up in the order of the module's docstring; a new one is
    made (mode 0600, under ``directory``) when none exists and ``create`` allows it."""
    value = os.environ.get(ENV_VAR)
    if value:
        try:
            key = bytes.fromhex(value.strip())
        except ValueError:
            raise ConfigError(
                f"{ENV_VAR} is not hexadecimal.", hint="set it to 64 hex digits (32 bytes)."
            ) from None
        if len(key) < 16:
            raise ConfigError(f"{ENV_VAR} is too short.", hint="use at least 32 hex digits.")
        return key
    seed = synthetic_seed(export) if export is not None else None
    if seed is not None:
        return hashlib.sha256(f"portal synthetic key|{challenge}|{seed}".encode()).digest()
    path = Path(directory) / f"{challenge}.key"
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    if not create:
        raise ConfigError(f"no key at {path}.", hint=f"set {ENV_VAR} or run `portal ingest`.")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    return key


def key_id(key: bytes) -> str:
    """A public fingerprint that says which key was used, and reveals nothing of it."""
    return hmac.new(key, b"portal key id", hashlib.sha256).hexdigest()[:16]
