"""The tabular modality's figures (portal/tabular/figures.py), drawn from a small synthetic
release written by portal/tabular/release.py."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from portal.synth.mlkidcar.export import synthesize
from portal.tabular import figures
from portal.tabular.ingest import ingest_tabular
from portal.tabular.release import ReleaseText, write_release_files
from tests.test_tabular import CARD, KEY

TEXT = ReleaseText(
    name="mlkidcar", title="ML-KIDCAR", summary="test", version="1.0.0", date="2026-12-03"
)
PNG = b"\x89PNG\r\n\x1a\n"
OKABE_ITO = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("kidcar-figures")
    synthesize(root / "raw", surgeries=120, seed=5)
    done = ingest_tabular(root / "raw", root / "data", key=KEY, card_block=CARD)
    return write_release_files(done.staging, root / "release", TEXT).out


def _image(png: bytes) -> np.ndarray:
    import matplotlib.image as mpimg

    assert png.startswith(PNG)
    return mpimg.imread(io.BytesIO(png), format="png")


def _has_colour(image: np.ndarray, hex_colour: str) -> bool:
    rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return bool((np.abs(image[..., :3] - rgb).max(axis=-1) < 0.02).any())


def test_palette_is_the_sites_okabe_ito():
    from portal.site.palette import NEUTRAL
    from portal.site.palette import OKABE_ITO as SITE

    copied = {figures.BLUE, figures.ORANGE, figures.VERMILLION, figures.SKY_BLUE}
    assert copied | {figures.BLUISH_GREEN} <= set(SITE.values()) == OKABE_ITO
    assert figures.NEUTRAL == NEUTRAL


def test_class_balance_counts_each_split(release):
    figure = figures.class_balance(release)
    image = _image(figure.png)
    assert _has_colour(image, figures.BLUE) and _has_colour(image, figures.ORANGE)
    for split in ("train", "public_test", "private_test"):
        aki = pq.read_table(release / "data" / "labels" / f"{split}.parquet").column("aki")
        positives = sum(1 for v in aki.to_pylist() if v)
        assert f"{split}: {positives} AKI, {len(aki) - positives} no AKI" in figure.alt
    assert figure.sources == tuple(
        f"data/labels/{s}.parquet" for s in ("train", "public_test", "private_test")
    )
    assert figures.class_balance(release).png == figure.png, "same release, same bytes"


def test_missingness_names_the_columns_with_gaps(release):
    figure = figures.missingness(release)
    _image(figure.png)
    shares = {}
    for table, prefix in (("surgeries", ""), ("signals", "signal: ")):
        frame = pd.concat(
            pq.read_table(p).to_pandas() for p in sorted((release / "data" / table).glob("*"))
        )
        for name in frame.columns.drop(["surgery_id", "patient_id", "minute"], errors="ignore"):
            shares[prefix + name] = frame[name].isna().mean()
    top = sorted(shares.items(), key=lambda item: -item[1])[:3]
    assert figure.alt.endswith(", ".join(f"{n} {100 * s:.1f} %" for n, s in top) + ".")
    assert any(n.startswith("signal: ") for n, _ in top), "SpO2 is empty on bypass"
    assert "data/signals/train.parquet" in figure.sources
    assert "data/surgeries/train.parquet" in figure.sources


def test_example_signals_show_both_classes(release):
    figure = figures.example_signals(release, per_class=2)
    image = _image(figure.png)
    assert _has_colour(image, figures.BLUE) and _has_colour(image, figures.ORANGE)
    assert "2 surgeries of class AKI (orange)" in figure.alt
    assert "2 of class no AKI (blue)" in figure.alt


def test_the_words_of_a_figure_are_the_readers(release):
    """A page passes its translation and the card's class names: the figure's text and its
    alternative text are in them (the site's French pages), the counts unchanged."""
    french = {
        "Surgeries per split and class:": "Interventions par partition et classe :",
        "surgeries": "interventions",
    }
    english = figures.class_balance(release)
    shown = figures.class_balance(
        release, say=lambda s: french.get(s, s), names=("pas d'IRA", "IRA")
    )
    assert shown.alt.startswith("Interventions par partition et classe :")
    assert "IRA" in shown.alt and "AKI" not in shown.alt
    assert shown.png != english.png, "the words are drawn in the figure"
    assert [c for c in shown.alt if c.isdigit()] == [c for c in english.alt if c.isdigit()]


def _explanations(release, out):
    """Files in the format the TCN team's explain.py writes: per surgery, ``signals`` and
    ``attribution`` (6 channels x 480 minutes) and ``score``; here from the release's real
    signals, with a linear model's attribution (input x weight) standing for the network's."""
    out.mkdir()
    table = pq.read_table(release / "data" / "signals" / "private_test.parquet").to_pandas()
    weights = np.array([-0.02, 0.01, 0.0, -0.05, 2.0, 0.1])[:, None]
    for surgery, rows in list(table.groupby("surgery_id"))[:3]:
        x = np.zeros((6, 480), np.float32)
        inside = rows[(rows["minute"] >= 0) & (rows["minute"] < 480)]
        for c, name in enumerate(figures.CHANNEL_NAMES):
            x[c, inside["minute"].to_numpy()] = np.nan_to_num(inside[name].to_numpy())
        attribution = (x * weights).astype(np.float32)
        np.savez_compressed(out / f"{surgery}.npz", signals=x, attribution=attribution, score=0.4)
    return out


def test_attributions_over_time_from_explain_output(release, tmp_path):
    explanations = _explanations(release, tmp_path / "explanations")
    figure = figures.attributions(explanations)
    image = _image(figure.png)
    assert _has_colour(image, figures.BLUISH_GREEN)
    assert len(figure.sources) == 3 and all(s.endswith(".npz") for s in figure.sources)
    names = list(figures.CHANNEL_NAMES.values())
    for source in figure.sources:
        attribution = np.load(explanations / source)["attribution"]
        strongest = names[int(np.abs(attribution).sum(axis=1).argmax())]
        assert f"{source[:-4]}: strongest on {strongest}" in figure.alt


def test_attributions_of_another_shape_are_refused_naming_the_file(tmp_path):
    np.savez_compressed(tmp_path / "s-x.npz", attribution=np.zeros((3, 10)), signals=np.zeros(1))
    with pytest.raises(ValueError, match=r"s-x\.npz: attribution of shape \(3, 10\)"):
        figures.attributions(tmp_path)
