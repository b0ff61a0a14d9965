"""Team explanation files are hostile: whatever arrays a team's ``explain`` leaves, the
reproduction refuses them with a reason and the site draws nothing from them, and
neither crashes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from portal.reproduce.plots import read_attributions
from portal.site.modality import draw_attributions

CHANNELS = 6


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _good() -> bytes:
    rng = np.random.default_rng(0)
    return _npz(
        signals=rng.normal(size=(CHANNELS, 90)),
        attribution=rng.normal(size=(CHANNELS, 90)),
        score=np.float64(0.4),
    )


def _bad_crc() -> bytes:
    data = bytearray(_good())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("attribution.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    data[start] ^= 0xFF  # one byte of the stored array flipped: the CRC no longer matches
    return bytes(data)


HOSTILE = {
    "empty arrays": _npz(signals=np.zeros((0, 0)), attribution=np.zeros((0, 0))),
    "bad CRC": _bad_crc(),
    "score of two values": _npz(
        signals=np.ones((CHANNELS, 10)), attribution=np.ones((CHANNELS, 10)), score=np.ones(2)
    ),
    "extra member": _npz(signals=np.ones((CHANNELS, 10)), attribution=np.ones((CHANNELS, 10)), x=1),
    "not a zip": b"not a zip at all",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_the_reproduction_refuses_with_a_reason(case: str, tmp_path: Path) -> None:
    path = tmp_path / "S0001.npz"
    path.write_bytes(HOSTILE[case])
    with pytest.raises(ValueError) as refused:
        read_attributions(path)
    assert str(refused.value)  # a reason the record keeps


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_the_site_draws_nothing_from_them_and_does_not_crash(case: str) -> None:
    assert draw_attributions({"S0001.npz": HOSTILE[case]}) is None


def test_the_site_draws_the_files_that_pass_beside_one_that_does_not() -> None:
    figure = draw_attributions({"S0001.npz": _good(), "S0002.npz": HOSTILE["score of two values"]})
    assert figure is not None
    assert "s0001" in figure.alt and "s0002" not in figure.alt  # (file names as slugs)
