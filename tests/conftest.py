"""Shared fixtures: small synthetic exports generated once per test session."""

from __future__ import annotations

import csv
import hashlib
import shutil
import threading
from pathlib import Path

import pytest

from portal.site.build import make_server
from portal.synth.export import synthesize

SMALL_SHAPE = (32, 64, 64)  # slices, rows, columns: striata still resolved, 8x cheaper
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, installed by `make setup`


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def tree_hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` by relative path, with its sha256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def flip_label(labels_csv: Path, exam_id: str | None = None) -> tuple[str, str]:
    """Swap normal and pathological for one exam (the first row by default), in place.
    Returns (exam_id, the label it had)."""
    rows = read_csv(labels_csv)
    row = next(r for r in rows if exam_id in (None, r["exam_id"]))
    old = row["label"]
    row["label"] = "normal" if old == "pathological" else "pathological"
    with open(labels_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return row["exam_id"], old


@pytest.fixture(scope="session")
def cohort_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred exams at a reduced matrix: enough for class-balance and task checks."""
    out = tmp_path_factory.mktemp("export") / "datpark"
    synthesize("datpark", out, exams=240, seed=11, shape=SMALL_SHAPE)
    return out


@pytest.fixture(scope="session")
def full_size_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A handful of exams at the default 128 x 128 x 64 matrix, from every centre it draws."""
    out = tmp_path_factory.mktemp("full") / "datpark"
    synthesize("datpark", out, exams=12, seed=5)
    return out


def small_release(
    export: Path,
    data: Path,
    *,
    exams: int,
    seed: int,
    card: Path | None = None,
    notes: str = "First release.",
) -> Path:
    """Synthesise, ingest and release ``exams`` tiny exams; returns the 1.0.0 folder.
    ``card`` and ``notes`` replace the real DaT-Park card and the release notes."""
    from portal.ingest.staging import ingest
    from portal.release.build import build_release
    from portal.release.cards import load_card

    card = load_card(card or ROOT / "data_cards" / "datpark.md")
    synthesize("datpark", export, exams=exams, seed=seed, shape=(16, 32, 32))
    ingest(
        "datpark",
        export,
        data,
        options=card.meta.deidentification,
        schema=card.meta.schema,
        key=b"small-release-key-0123456789abcde",
        workers=1,
    )
    summary = build_release(
        "datpark",
        data / "staging",
        data / "releases",
        card,
        version="1.0.0",
        date="2025-06-01",
        notes=notes,
    )
    return summary.path


def challenge_project(root: Path, *, exams: int, seed: int, **release) -> Path:
    """A portal project under ``root``: a small DaT-Park release 1.0.0 and the real
    challenge.yaml, ready for fixture teams; returns ``root``. ``release`` goes to
    :func:`small_release` (``card``, ``notes``)."""
    small_release(root / "raw", root / "data" / "datpark", exams=exams, seed=seed, **release)
    (root / "data_cards").mkdir(exist_ok=True)  # the data's schema, which scoring reads
    shutil.copy(release.get("card") or ROOT / "data_cards" / "datpark.md", root / "data_cards")
    (root / "reproduce" / "datpark").mkdir(parents=True)
    shutil.copy(ROOT / "reproduce" / "datpark" / "challenge.yaml", root / "reproduce" / "datpark")
    return root


# -- the site in a real browser (the site test modules give `project` and `site`) ----
@pytest.fixture(scope="module")
def server(project, site):
    """The built ``site`` of the requesting module's ``project``, served on 127.0.0.1."""
    httpd = make_server(project, site, port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is installed by `make setup`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-domain-reliability",
                "--disable-client-side-phishing-detection",
            ],
        )
        yield chromium
        chromium.close()
