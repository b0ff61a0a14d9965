"""The data files of a tabular release, from a verified tabular staging.

``write_release_files(staging, out, text, withheld=())`` reads what
``portal.tabular.ingest`` staged (docs/tabular-export.md, "What is released") and writes:

- ``data/<table>/<split>.parquet`` for the tables with one or more rows per surgery
  (``surgeries``: the static table; ``labels``: KDIGO stage and AKI; ``labs``:
  creatinine samples; ``signals``: the minute-level time series, one long table), one
  file per split, rows sorted, so ``datasets.load_dataset(<release>, "<table>")`` gives
  the challenge's splits;
- ``data/splits.parquet``: which split each surgery is in;
- ``README.md``: the Hugging Face dataset card (YAML header: one config per table, with
  its splits and features; then what the tables hold, their units, the statistics of
  this release and the re-identification risk the de-identifier measured);
- ``croissant.json``: Croissant 1.1 metadata, one record set per table with its fields,
  its key, and the reference of every table's ``surgery_id`` to the surgery table;
- ``deid_report.json``: the de-identifier's report, as staged.

A split the data card withholds (sequestered, or embargoed on the release date) keeps its
surgeries, their static table and their signals, but not what gives its label away: its
``labels`` rows have ``aki_stage`` and ``aki`` empty, and its creatinine samples after
the end of surgery (from which KDIGO stages AKI) are left out.

``portal release`` (``portal/release/tabular.py``) calls this into its build folder,
then adds the manifest, the citations, the changelog and the label commitments as it
does for every kind of data; ``text.content_hash`` is then the placeholder the manifest's
seal replaces, so the card and Croissant quote the release's content hash.

Nothing else of the staging is read or copied: a staging holding a file this module
does not know is refused (an unknown file may hold what nobody reviewed), and so is a
staging the independent verifier did not accept. The output is byte-deterministic: the
same staging and text give the same bytes (rows sorted, fixed Parquet options, no
time stamps, JSON and YAML written in a fixed order).

This module is at the ingest stage's rank (``tests/test_boundaries.py``): it does not
read the data card module of ``portal/release/``; whoever reads the card passes its
text in :class:`ReleaseText`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from portal.core.croissant import CONTEXT
from portal.errors import InputError
from portal.tabular.contract import LABS, OUTCOMES, SIGNAL_CHANNELS, SPLITS, SURGERIES

SPLIT_NAMES = SPLITS.columns["split"].values  # the contract's splits, in its order
#: the staged files a release is made of; anything else in the staging is refused
STAGED = (
    "surgeries.parquet",
    "labels.parquet",
    "splits.parquet",
    "labs.parquet",
    "signals.parquet",
    "deid_report.json",
    "verification.json",
)
#: tables written one file per split, with the order of their rows
PER_SPLIT = {
    "surgeries": ("surgery_id",),
    "labels": ("surgery_id",),
    "labs": ("surgery_id", "sampled_at"),
    "signals": ("surgery_id", "minute"),
}
ROW_GROUP = 65_536
CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
HF_LICENSES = {"CC-BY-4.0": "cc-by-4.0", "CC-BY-NC-4.0": "cc-by-nc-4.0", "CC0-1.0": "cc0-1.0"}

#: What each released column holds, for the card and Croissant (units from the contract).
DESCRIPTIONS = {
    "surgery_id": "pseudonymous surgery identifier (keyed HMAC, 's-' + 12 consonants)",
    "patient_id": "pseudonymous patient identifier (keyed HMAC, 'p-' + 12 consonants); "
    "a patient operated twice has two surgeries",
    "centre": "centre code (centre-a, centre-b... in the key's order), or '*' if generalised",
    "admission_at": "admission, local time, shifted by the patient's whole number of days",
    "surgery_start": "start of surgery, local time, shifted",
    "surgery_end": "end of surgery, local time, shifted",
    "discharge_at": "discharge, local time, shifted",
    "age": "age in years at surgery, as released: exact, a band, 90+ or '*'",
    "sex": "M or F, or '*' if generalised",
    "procedure": "CABG, valve, combined, aortic or other; or a group (complex) or '*'",
    "urgency": "elective, urgent, emergency or salvage; or non-elective or '*'",
    "ckd_stage": "KDIGO chronic kidney disease stage from the baseline eGFR (1-5)",
    "nyha_class": "NYHA functional class (1-4)",
    "aki_stage": "KDIGO acute kidney injury stage (0-3) from post-operative creatinine",
    "aki": "acute kidney injury: KDIGO stage 1 or more (the challenge's label)",
    "split": "train, public_test or private_test (drawn per patient)",
    "sampled_at": "creatinine sample time, local time, shifted",
    "hours_after_surgery_end": "hours from the end of surgery to the sample",
    "minute": "minutes from the start of surgery (negative: before it)",
}
FLAGS = ("diabetes", "hypertension", "redo", "transfusion")


@dataclass(frozen=True)
class ReleaseText:
    """What the data card says that the release's files repeat (the caller reads the card)."""

    name: str
    title: str
    summary: str
    version: str
    date: str  # YYYY-MM-DD, the release date (never "today": the bytes must not depend on it)
    license: str = "CC-BY-4.0"
    license_url: str = "https://creativecommons.org/licenses/by/4.0/"
    creators: tuple[str, ...] = ()
    publisher: str = ""
    citation: str = ""
    synthetic: bool = False
    keywords: tuple[str, ...] = ()
    language: tuple[str, ...] = ("en", "fr")
    sections: dict[str, str] = field(default_factory=dict)  # Datasheet sections by title
    #: the release's content hash as the card and Croissant quote it ("" outside a release)
    content_hash: str = ""
    #: the release notes of this version (params.yaml ``releases:``)
    notes: str = ""
    #: the provenance sentence of a synthetic dataset (the data card's); a default if empty
    notice: str = ""


@dataclass(frozen=True)
class TabularRelease:
    out: Path
    files: dict[str, str]  # relative path -> sha256
    surgeries: dict[str, int]  # per split
    stats: dict


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_staging(staging: Path) -> dict:
    """The staged report, once the staging holds exactly the files a release is made of
    and the independent verifier accepted it; else a one-line error naming the file."""
    if not staging.is_dir():
        raise InputError(
            f"{staging}: no tabular staging here.",
            path=str(staging),
            hint="run `portal ingest <challenge>` first: releases are built from staging only.",
        )
    unknown = sorted(p.name for p in staging.iterdir() if p.name not in STAGED)
    if unknown:
        raise InputError(
            f"{staging / unknown[0]}: a file the tabular release does not know; nothing "
            "unknown is released.",
            path=str(staging / unknown[0]),
            hint="remove it from the staging, or ingest again into a clean folder.",
        )
    missing = [name for name in STAGED if not (staging / name).is_file()]
    if missing:
        raise InputError(
            f"{staging / missing[0]}: missing from the tabular staging.",
            path=str(staging / missing[0]),
            hint="ingest again (`portal ingest <challenge>`): it writes every table.",
        )
    verdict = json.loads((staging / "verification.json").read_text(encoding="utf-8"))
    if verdict.get("findings") != [] or not str(verdict.get("verifier", "")).startswith(
        "portal.tabular.verify"
    ):
        raise InputError(
            f"{staging / 'verification.json'}: the independent verifier did not accept this "
            "staging.",
            path=str(staging / "verification.json"),
            hint="ingest again: only a staging the verifier accepted is released.",
        )
    return json.loads((staging / "deid_report.json").read_text(encoding="utf-8"))


def _normalised(table: pa.Table) -> pa.Table:
    """Fixed types whatever pandas chose when staging: minute-precision date-times as
    ``timestamp[s]``, labels as int8/bool, no schema metadata."""
    columns, fields = [], []
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_timestamp(kind):
            column = column.cast(pa.timestamp("s"))
        elif name == "aki_stage":
            column = column.cast(pa.int8())
        elif pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
            column = column.cast(pa.string())
        columns.append(column)
        fields.append(pa.field(name, column.type))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table.replace_schema_metadata(None),
        path,
        compression="zstd",
        compression_level=3,
        use_dictionary=True,
        write_statistics=True,
        row_group_size=ROW_GROUP,
        data_page_version="1.0",
        version="2.6",
    )


def write_release_files(
    staging: Path, out: Path, text: ReleaseText, withheld: tuple[str, ...] | list[str] = ()
) -> TabularRelease:
    """Write the release's data files, card and Croissant into ``out`` (created, or an
    empty folder); labels of the ``withheld`` splits are left out. See the module
    docstring."""
    staging, out = Path(staging), Path(out)
    report = check_staging(staging)
    if out.exists() and any(out.iterdir()):
        raise InputError(
            f"{out}: not empty; a release is written once into a new folder.",
            path=str(out),
            hint="choose a new folder (a new version) or remove this one.",
        )
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        name: _normalised(pq.read_table(staging / f"{name}.parquet"))
        for name in (*PER_SPLIT, "splits")
    }
    splits = tables["splits"].sort_by("surgery_id")
    known = set(tables["surgeries"].column("surgery_id").to_pylist())
    assigned = splits.column("surgery_id").to_pylist()
    stray = sorted(set(assigned) ^ known)
    if stray:
        raise InputError(
            f"{staging / 'splits.parquet'}: surgery {stray[0]} is in one of splits.parquet "
            "and surgeries.parquet, not both.",
            path=str(staging / "splits.parquet"),
            hint="ingest again: the staging's tables must describe the same surgeries.",
        )
    _write(splits, out / "data" / "splits.parquet")
    present = [s for s in SPLIT_NAMES if s in set(splits.column("split").to_pylist())]
    counts: dict[str, int] = {}
    for split in present:
        members = pc.filter(splits.column("surgery_id"), pc.equal(splits.column("split"), split))
        for name, order in PER_SPLIT.items():
            table = tables[name]
            part = table.filter(pc.is_in(table.column("surgery_id"), value_set=members))
            if split in withheld:
                part = _withhold(name, part)
            part = part.sort_by([(c, "ascending") for c in order])
            _write(part, out / "data" / name / f"{split}.parquet")
        counts[split] = len(members)
    stats = _statistics(tables, splits, present)
    for split in withheld:  # no count of a withheld split's labels either
        if split in stats["by_split"]:
            stats["by_split"][split].update(aki=None, aki_share=None)
    # the samples as released (a withheld split's post-operative ones are left out)
    stats["lab_samples"] = sum(
        pq.read_metadata(out / "data" / "labs" / f"{split}.parquet").num_rows for split in present
    )
    files = _data_files(out)
    (out / "deid_report.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    files["deid_report.json"] = _sha256(out / "deid_report.json")
    (out / "README.md").write_text(
        dataset_card(text, tables, present, stats, report, out), encoding="utf-8"
    )
    files["README.md"] = _sha256(out / "README.md")
    croissant_ld = croissant(text, tables, files, present)
    (out / "croissant.json").write_text(
        json.dumps(croissant_ld, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    files["croissant.json"] = _sha256(out / "croissant.json")
    return TabularRelease(out=out, files=dict(sorted(files.items())), surgeries=counts, stats=stats)


#: the label columns of the labels table, empty in a withheld split
LABEL_COLUMNS = ("aki_stage", "aki")


def _withhold(name: str, part: pa.Table) -> pa.Table:
    """A withheld split's rows of table ``name``: labels empty, post-operative creatinine
    (which gives the KDIGO stage away) left out."""
    if name == "labels":
        for column in LABEL_COLUMNS:
            index = part.column_names.index(column)
            part = part.set_column(
                index, column, pa.nulls(part.num_rows, part.schema.field(column).type)
            )
    elif name == "labs":
        if "hours_after_surgery_end" not in part.column_names:  # fail closed, never open
            raise InputError(
                "labs: no hours_after_surgery_end column, so the post-operative creatinine "
                "of a withheld split cannot be told apart; nothing is released.",
                hint="ingest again: the staged labs table has that column.",
            )
        after = pc.fill_null(pc.greater(part.column("hours_after_surgery_end"), 0), True)
        part = part.filter(pc.invert(after))
    return part


def _data_files(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): _sha256(p) for p in sorted((out / "data").rglob("*.parquet"))
    }


def _statistics(tables: dict[str, pa.Table], splits: pa.Table, present: list[str]) -> dict:
    split_of = dict(
        zip(
            splits.column("surgery_id").to_pylist(), splits.column("split").to_pylist(), strict=True
        )
    )
    aki = dict(
        zip(
            tables["labels"].column("surgery_id").to_pylist(),
            tables["labels"].column("aki").to_pylist(),
            strict=True,
        )
    )
    by_split = {}
    for split in present:
        ids = [s for s, which in split_of.items() if which == split]
        known = [aki[s] for s in ids if aki.get(s) is not None]
        by_split[split] = {
            "surgeries": len(ids),
            "aki": sum(1 for v in known if v),
            "aki_share": round(sum(1 for v in known if v) / len(known), 4) if known else None,
        }
    surgeries = tables["surgeries"]
    signals = tables["signals"]
    return {
        "surgeries": surgeries.num_rows,
        "patients": len(set(surgeries.column("patient_id").to_pylist())),
        "centres": dict(sorted(_counts(surgeries.column("centre")).items())),
        "sex": dict(sorted(_counts(surgeries.column("sex")).items())),
        "by_split": by_split,
        "lab_samples": tables["labs"].num_rows,
        "signal_minutes": signals.num_rows,
    }


def _counts(column: pa.ChunkedArray) -> dict[str, int]:
    result = pc.value_counts(column).to_pylist()
    return {str(item["values"]): int(item["counts"]) for item in result}


# -- the Hugging Face dataset card ----------------------------------------------------------
def _hf_dtype(kind: pa.DataType) -> str:
    if pa.types.is_timestamp(kind):
        return f"timestamp[{kind.unit}]"
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_string(kind):
        return "string"
    return str(kind)  # int8, int32, int64, float, double: HF's Value names are Arrow's


def _features(table: pa.Table) -> list[dict]:
    return [{"name": f.name, "dtype": _hf_dtype(f.type)} for f in table.schema]


def _unit(column: str) -> str:
    if column in SIGNAL_CHANNELS:
        return SIGNAL_CHANNELS[column]
    for spec in (SURGERIES, LABS, OUTCOMES):
        if column in spec.columns:
            return spec.columns[column].unit
    return "h" if column == "hours_after_surgery_end" else ""


def _describe(column: str) -> str:
    if column in DESCRIPTIONS:
        return DESCRIPTIONS[column]
    if column in FLAGS:
        return f"{column.replace('_', ' ')}: 1 yes, 0 no"
    unit = _unit(column)
    words = column.replace("_", " ")
    for suffix in (" umol l", " pct", " cm", " kg", " minutes", " mmhg", " bpm", " c"):
        words = words.removesuffix(suffix)
    return f"{words} ({unit})" if unit else words


def dataset_card(
    text: ReleaseText,
    tables: dict[str, pa.Table],
    present: list[str],
    stats: dict,
    report: dict,
    out: Path,
) -> str:
    configs = [
        {
            "config_name": name,
            "data_files": [{"split": s, "path": f"data/{name}/{s}.parquet"} for s in present],
            **({"default": True} if name == "surgeries" else {}),
        }
        for name in PER_SPLIT
    ]
    configs.append(
        {"config_name": "splits", "data_files": [{"split": "full", "path": "data/splits.parquet"}]}
    )
    info = [
        {
            "config_name": name,
            "features": _features(tables[name]),
            "splits": [
                {
                    "name": s,
                    "num_bytes": (out / "data" / name / f"{s}.parquet").stat().st_size,
                    "num_examples": pq.read_metadata(out / "data" / name / f"{s}.parquet").num_rows,
                }
                for s in present
            ],
        }
        for name in PER_SPLIT
    ]
    header = {
        "pretty_name": text.title,
        "license": HF_LICENSES.get(text.license, "other"),
        "language": list(text.language),
        "task_categories": ["tabular-classification"],  # signals are inputs, not targets
        "tags": [*text.keywords, "medical", "tabular", *(["synthetic"] if text.synthetic else [])],
        "size_categories": [_size_category(stats["surgeries"])],
        "configs": configs,
        "dataset_info": info,
    }
    risk = report.get("risk", {})
    notice = (
        (
            text.notice
            or "Synthetic data: generated by the portal's synthetic ML-KIDCAR export "
            "(portal synth mlkidcar); no real patient is in it."
        )
        if text.synthetic
        else ""
    )
    body = [f"# {text.title}", ""]
    if notice:
        body += [f"> **{notice}**", ""]
    version = f"**Version {text.version}** ({text.date})"
    if text.content_hash:
        version += (
            f", content hash `{text.content_hash}`. Every file is listed with its sha256 in "
            "`manifest.json` and `SHA256SUMS` (`sha256sum -c SHA256SUMS`)"
        )
    body += [text.summary.strip(), "", f"{version}.", ""]
    if text.notes.strip():
        body += ["## Release notes", "", text.notes.strip(), ""]
    body += [
        "## Tables",
        "",
        "| config | one row per | file per split |",
        "|---|---|---|",
        "| `surgeries` (default) | surgery: the static pre- and intra-operative table "
        "| `data/surgeries/<split>.parquet` |",
        "| `labels` | surgery: KDIGO stage and AKI | `data/labels/<split>.parquet` |",
        "| `labs` | creatinine sample | `data/labs/<split>.parquet` |",
        "| `signals` | minute of intra-operative monitoring (long table) "
        "| `data/signals/<split>.parquet` |",
        "| `splits` | surgery: its split "
        "| `data/splits.parquet` (split `full`: HF reserves `all`) |",
        "",
        "Every table's `surgery_id` refers to the surgery table; `croissant.json` declares "
        "these references.",
        "",
    ]
    for name in (*PER_SPLIT, "splits"):
        body += [f"### `{name}`", "", "| column | type | unit | content |", "|---|---|---|---|"]
        for f in tables[name].schema:
            body.append(
                f"| `{f.name}` | {_hf_dtype(f.type)} | {_unit(f.name)} | {_describe(f.name)} |"
            )
        body.append("")
    body += [
        "Signal artefacts (a flushed arterial line, zeroing, a probe off, double-counted "
        "heart rate) and gaps are the monitors' and are released as they are.",
        "",
        "## Statistics (computed from this release)",
        "",
        f"- surgeries: {stats['surgeries']}, patients: {stats['patients']}",
        f"- centres: {', '.join(f'{k}: {v}' for k, v in stats['centres'].items())}",
        f"- sex: {', '.join(f'{k}: {v}' for k, v in stats['sex'].items())}",
        f"- creatinine samples: {stats['lab_samples']}, signal minutes: {stats['signal_minutes']}",
        "",
        "| split | surgeries | AKI | AKI share |",
        "|---|---|---|---|",
    ]
    for split, row in stats["by_split"].items():
        share = "withheld" if row["aki_share"] is None else f"{row['aki_share']:.1%}"
        aki = "withheld" if row["aki"] is None else row["aki"]
        body.append(f"| {split} | {row['surgeries']} | {aki} | {share} |")
    withheld = [s for s, row in stats["by_split"].items() if row["aki"] is None]
    if withheld:
        body += [
            "",
            f"Labels of {', '.join(withheld)} are withheld (split policy): `aki_stage` and "
            "`aki` are empty there and the post-operative creatinine samples are left out; "
            "for an embargoed split, `label_commitments.json` publishes a commitment to them.",
        ]
    body += ["", "## Re-identification risk", ""]
    if risk:
        levels = ", ".join(f"{q}: {d}" for q, d in risk.get("generalisation", {}).items())
        body += [
            f"Quasi-identifiers: {', '.join(risk.get('quasi_identifiers', []))}; sensitive "
            f"column: `{risk.get('sensitive')}`. Required k = {risk.get('k_required')} "
            f"(distinct patients per class) and l = {risk.get('l_required')}; reached "
            f"k = {risk.get('k')}, l = {risk.get('l')}, over {risk.get('equivalence_classes')} "
            f"classes. Generalised: {levels}. Suppressed: {risk.get('suppressed_surgeries')} "
            f"surgeries of {risk.get('suppressed_patients')} patients. "
            "`deid_report.json` records what was removed, pseudonymised, shifted and rounded.",
            "",
        ]
    body += [
        "## Loading",
        "",
        "```python",
        "import datasets",
        'surgeries = datasets.load_dataset("path/to/this/release", "surgeries")',
        'signals = datasets.load_dataset("path/to/this/release", "signals", split="train")',
        "```",
        "",
    ]
    for title, section in text.sections.items():
        body += [f"## {title}", "", section.strip(), ""]
    if text.citation:
        body += ["## Citation", "", text.citation.strip(), ""]
    front = yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{front}---\n\n" + "\n".join(body).rstrip() + "\n"


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M"


# -- Croissant ------------------------------------------------------------------------------
def _cr_type(kind: pa.DataType) -> str:
    if pa.types.is_timestamp(kind):
        return "sc:DateTime"
    if pa.types.is_integer(kind):
        return "sc:Integer"
    if pa.types.is_floating(kind):
        return "sc:Float"
    if pa.types.is_boolean(kind):
        return "sc:Boolean"
    return "sc:Text"


def croissant(
    text: ReleaseText, tables: dict[str, pa.Table], files: dict[str, str], present: list[str]
) -> dict:
    """The Croissant JSON-LD: a file set per table, a record set per table."""
    distribution: list[dict] = []
    for name in PER_SPLIT:
        distribution.append(
            {
                "@type": "cr:FileSet",
                "@id": f"{name}-files",
                "name": f"{name}-files",
                "description": f"the {name} table, one Parquet file per split "
                f"({', '.join(present)})",
                "encodingFormat": "application/x-parquet",
                "includes": f"data/{name}/*.parquet",
            }
        )
    distribution.append(
        {
            "@type": "cr:FileObject",
            "@id": "splits-file",
            "name": "splits-file",
            "contentUrl": "data/splits.parquet",
            "encodingFormat": "application/x-parquet",
            "sha256": files["data/splits.parquet"],
        }
    )
    keys = {
        "surgeries": ["surgery_id"],
        "labels": ["surgery_id"],
        "labs": ["surgery_id", "sampled_at"],
        "signals": ["surgery_id", "minute"],
        "splits": ["surgery_id"],
    }
    record_sets = []
    for name in (*PER_SPLIT, "splits"):
        source = {"fileSet": {"@id": f"{name}-files"}} if name in PER_SPLIT else None
        source = source or {"fileObject": {"@id": "splits-file"}}
        fields = []
        for f in tables[name].schema:
            entry = {
                "@type": "cr:Field",
                "@id": f"{name}/{f.name}",
                "name": f.name,
                "description": _describe(f.name),
                "dataType": _cr_type(f.type),
                "source": {**source, "extract": {"column": f.name}},
            }
            if f.name == "surgery_id" and name != "surgeries":
                entry["references"] = {"field": {"@id": "surgeries/surgery_id"}}
            fields.append(entry)
        key = keys[name]
        record_sets.append(
            {
                "@type": "cr:RecordSet",
                "@id": name,
                "name": name,
                "description": RECORD_SET_TEXT[name],
                "key": [{"@id": f"{name}/{c}"} for c in key]
                if len(key) > 1
                else {"@id": f"{name}/{key[0]}"},
                "field": fields,
            }
        )
    notice = (
        (
            f"{text.notice.strip()} "
            if text.notice
            else "Synthetic data: generated by the portal's synthetic ML-KIDCAR export; no "
            "real patient is in it. "
        )
        if text.synthetic
        else ""
    )
    sections = text.sections
    identifier = {"identifier": text.content_hash} if text.content_hash else {}
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": text.name,
        "alternateName": text.title,
        "description": f"{notice}{text.summary.strip()}",
        "version": text.version,
        **identifier,
        "datePublished": text.date,
        "license": text.license_url,
        "url": f"https://example.org/{text.name}/{text.version}",
        "keywords": [*text.keywords, *(["synthetic data"] if text.synthetic else [])],
        "creator": [{"@type": "sc:Organization", "name": c} for c in text.creators],
        "publisher": {"@type": "sc:Organization", "name": text.publisher or text.name},
        "citeAs": text.citation or text.title,
        "isAccessibleForFree": True,
        "rai:dataCollection": notice + sections.get("Collection process", ""),
        "rai:dataPreprocessingProtocol": sections.get("Preprocessing and labelling", ""),
        "rai:dataUseCases": sections.get("Uses", ""),
        "rai:personalSensitiveInformation": "Health data, de-identified: direct identifiers "
        "and free text removed, keyed pseudonyms, one date shift per patient, "
        "quasi-identifiers generalised until k-anonymity and l-diversity hold, checked by "
        "an independent verifier (deid_report.json).",
        "rai:dataReleaseMaintenancePlan": sections.get("Maintenance", ""),
        "distribution": distribution,
        "recordSet": record_sets,
    }


RECORD_SET_TEXT = {
    "surgeries": "one record per surgery: the static pre- and intra-operative table",
    "labels": "one record per surgery: KDIGO AKI stage and the binary AKI label",
    "labs": "one record per creatinine sample",
    "signals": "one record per minute of intra-operative monitoring of a surgery",
    "splits": "one record per surgery: its split",
}
