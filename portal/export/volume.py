"""One staged DICOM file as a volume: its pixels and the acquisition geometry a release
publishes beside them (the DICOM modality's reader for ``portal/release/dicom.py``).

The DICOM attribute names stay here, in the DICOM modality's code: the release stage
asks for a volume and gets plain columns (``manufacturer``, ``model``,
``pixel_spacing_mm``, ``slice_thickness_mm``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_volume(path: Path) -> tuple[np.ndarray, dict]:
    """The pixels of ``path`` as a (z, y, x) uint16 array, and its geometry columns."""
    import pydicom

    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    spacing = [float(v) for v in ds.get("PixelSpacing", [0, 0])]
    info = {
        "manufacturer": str(ds.get("Manufacturer", "")),
        "model": str(ds.get("ManufacturerModelName", "")),
        "pixel_spacing_mm": spacing[0] if spacing else 0.0,
        "slice_thickness_mm": float(ds.get("SliceThickness", 0) or 0),
    }
    return pixels.astype(np.uint16, copy=False), info
