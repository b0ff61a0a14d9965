"""Figures drawn from team files: an explanation is read only when it is what it claims."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from portal.reproduce.plots import read_explanation, saliency


def test_a_well_formed_explanation_is_drawn(tmp_path):
    npz = tmp_path / "E0001.npz"
    np.savez_compressed(
        npz, image=np.random.default_rng(0).random((64, 64)), saliency=np.ones((64, 64))
    )
    image, weight = read_explanation(npz)
    assert image.shape == weight.shape == (64, 64)
    out = saliency(image, weight, tmp_path / "s.png", "E0001 (normal)")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"image": np.zeros((9000, 9000), np.uint8)}, "expected image.npy and saliency.npy"),
        ({"image": np.zeros((3000, 3000)), "saliency": np.zeros((3000, 3000))}, "over the cap"),
        ({"image": np.zeros((8, 8)), "saliency": np.zeros((8, 9))}, "differ in shape"),
        ({"image": np.zeros((8, 8, 8)), "saliency": np.zeros((8, 8, 8))}, "not a 2-D number"),
        ({"image": np.array([["a"]]), "saliency": np.array([["b"]])}, "not a 2-D number"),
        ({"image": np.array([[{}]], dtype=object), "saliency": np.zeros((1, 1))}, "unreadable"),
    ],
    ids=["wrong-members", "decompression-bomb", "shapes", "3-D", "strings", "pickle"],
)
def test_a_hostile_explanation_is_refused_with_the_reason(tmp_path, arrays, expected):
    npz = tmp_path / "E0001.npz"
    np.savez_compressed(npz, **arrays)
    with pytest.raises(ValueError, match=expected):
        read_explanation(npz)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    npz = tmp_path / "E0001.npz"
    npz.write_bytes(b"\x93NUMPY not a zip")
    with pytest.raises(ValueError, match=r"not an \.npz archive"):
        read_explanation(npz)
    with zipfile.ZipFile(tmp_path / "x.npz", "w") as archive:
        archive.writestr("image.npy", b"junk")
        archive.writestr("saliency.npy", b"junk")
    with pytest.raises(ValueError, match="unreadable arrays"):
        read_explanation(tmp_path / "x.npz")
