"""Ingest a tabular export: validate, de-identify, verify independently, stage.

``data/<challenge>/staging/`` (released later) and ``data/<challenge>/private/`` (the
linkage, never released) are built in temporary folders and swapped in only if the
independent verifier finds nothing: a finding leaves the previous staging as it was
and raises ``VerificationError``. This is the one module that calls both the
de-identifier and the verifier; they never call each other.

``python -m portal.tabular.ingest --export raw/mlkidcar --out data/mlkidcar`` runs it
with the key ``portal ingest`` would use (``portal/keys.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from portal.core.atomic import atomic_dir
from portal.errors import ConfigError, PortalError, VerificationError
from portal.tabular.contract import read_export
from portal.tabular.deid import Policy, deidentify
from portal.tabular.verify import summary, verify_tabular


@dataclass(frozen=True)
class TabularIngest:
    staging: Path
    private: Path
    report: dict
    verifier: list[str]
    seconds: dict[str, float]


#: the steps of a tabular ingest, as its progress lines name them
PHASES = ("read and validate", "de-identify", "verify")


def ingest_tabular(
    export: Path,
    data_dir: Path,
    *,
    key: bytes,
    card_block: dict | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> TabularIngest:
    """Stage ``export`` under ``data_dir``. Its progress counts the :data:`PHASES` done
    (``on_total`` 3, ``progress`` 1 after each); ``on_phase`` names the one under way."""
    export, data_dir = Path(export), Path(data_dir)
    seconds = {}

    @contextmanager
    def step(phase: str) -> Iterator[None]:
        if on_phase:
            on_phase(f"{phase} (step {PHASES.index(phase) + 1} of {len(PHASES)})")
        start = time.perf_counter()
        yield
        seconds[phase] = time.perf_counter() - start
        if progress:
            progress(1)

    if on_total:
        on_total(len(PHASES))
    with step("read and validate"):
        table = read_export(export)
    policy = Policy.from_card(card_block)
    staging, private = data_dir / "staging", data_dir / "private"
    with (
        atomic_dir(private, overwrite=True) as private_tmp,
        atomic_dir(staging, overwrite=True) as staging_tmp,
    ):
        with step("de-identify"):
            summary_ = deidentify(
                export, staging_tmp, private_tmp, key=key, policy=policy, export=table
            )
        with step("verify"):
            result = verify_tabular(export, staging_tmp, private_tmp, card_block)
        lines = list(summary(result))
        if not result.ok:
            raise VerificationError(
                f"the independent verifier refused the de-identified {export.name}: "
                f"{len(result.findings)} finding(s); nothing was staged.",
                problems=result.findings[:20],
                hint="fix the de-identification (or the export) and ingest again; the "
                "previous staging is unchanged.",
            )
        (staging_tmp / "verification.json").write_text(
            json.dumps(
                {"verifier": "portal.tabular.verify", "summary": lines[0], "findings": []},
                indent=2,
            )
            + "\n"
        )
    return TabularIngest(staging, private, summary_.report, lines, seconds)


def card_block(path: Path) -> dict:
    """The ``deidentification.tabular`` block of a data card (``data_cards/<c>.md``, YAML
    front matter) or of a plain YAML file; a bare block is taken as it is."""
    import yaml

    text = Path(path).read_text(encoding="utf-8").replace("\r\n", "\n")
    if text.startswith("---\n"):
        front, _, _rest = text[4:].partition("\n---")
        text = front
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}".splitlines()[0]) from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping with deidentification.tabular.")
    block = loaded.get("deidentification", loaded)
    return dict(block.get("tabular", block) if isinstance(block, dict) else {})


def main(argv: list[str] | None = None) -> int:
    from portal.deid.keys import SECRETS_DIR, load_key

    parser = argparse.ArgumentParser(prog="python -m portal.tabular.ingest", description=__doc__)
    parser.add_argument("--challenge", default="mlkidcar")
    parser.add_argument("--export", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--card",
        type=Path,
        default=None,
        help="the data card (data_cards/<c>.md) or a YAML file holding deidentification.tabular",
    )
    args = parser.parse_args(argv)
    export = args.export or Path("raw") / args.challenge
    out = args.out or Path("data") / args.challenge
    try:
        block = card_block(args.card) if args.card else None
        key = load_key(args.challenge, export=export, directory=SECRETS_DIR)
        done = ingest_tabular(export, out, key=key, card_block=block)
    except PortalError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    risk = done.report["risk"]
    print(f"staged {done.report['output']['surgeries']} surgeries in {done.staging}")
    print(
        f"k={risk['k']} (required {risk['k_required']}), l={risk['l']} (required "
        f"{risk['l_required']}), suppressed {risk['suppressed_surgeries']}; "
        + ", ".join(f"{q}: {d}" for q, d in risk["generalisation"].items())
    )
    print(done.verifier[0])
    print(", ".join(f"{step} {s:.1f} s" for step, s in done.seconds.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
