"""Render a reconstructed DaT-SPECT volume from an exam's anatomy and physics.

The model, in the head's own frame (millimetres, origin at the brain's centre,
x to the patient's left, y to the back, z up):

- non-specific uptake in the brain (an ellipsoid) and, at a third of that, in
  the scalp around it; a little scatter that spills past the head;
- per hemisphere, a caudate (head and body) and a putamen (a tapered capsule
  running back and out), filled with ``1 + SBR`` times the background, the
  putamen's SBR varying linearly from its anterior to its posterior end, with
  an optional focal (vascular) defect;
- the centre's reconstructed resolution (a Gaussian PSF, plus motion blur),
  attenuation left uncorrected, or corrected by Chang's method or by CT,
- Poisson counting noise at the centre's count level, then the vendor's
  pixel-value scaling, stored as unsigned 16-bit.

Everything outside the head's bounding box (padded for the scatter tail) is
air with no counts, which keeps the cost per exam proportional to the head,
not to the field of view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from portal.synth.centres import Centre
from portal.synth.cohort import Binding, Pose

BRAIN_AXES_MM = np.array([66.0, 80.0, 56.0])
SCALP_MM = 12.0
SCALP_UPTAKE = 0.35
SCATTER_FRACTION = 0.08
MU_PER_MM = 0.012  # effective broad-beam attenuation of 159 keV photons in tissue
MU_CHANG_PER_MM = 0.011  # what Chang's uniform correction assumes
REFERENCE_SHAPE = (64, 128, 128)  # slices, rows, columns at which centre spacings are stated
STRIATUM_BOX_MM = np.array([[-42.0, -40.0, -16.0], [42.0, 26.0, 32.0]])


@dataclass(frozen=True)
class Geometry:
    """Voxel grid of the output volume: shape (slices, rows, columns) and spacing in mm."""

    shape: tuple[int, int, int]
    spacing_mm: float
    slice_mm: float

    @classmethod
    def for_centre(cls, centre: Centre, shape: tuple[int, int, int]) -> Geometry:
        """Keep the centre's field of view whatever the matrix, so heads always fit."""
        slices, _rows, cols = shape
        spacing = centre.pixel_spacing_mm * REFERENCE_SHAPE[2] / cols
        slice_mm = centre.pixel_spacing_mm * REFERENCE_SHAPE[0] / slices
        return cls(shape=shape, spacing_mm=round(spacing, 4), slice_mm=round(slice_mm, 4))

    def voxel_volume_ratio(self, centre: Centre) -> float:
        return (self.spacing_mm**2 * self.slice_mm) / centre.pixel_spacing_mm**3


def rotation_matrix(degrees: tuple[float, float, float]) -> np.ndarray:
    """Rotation about x (nodding), then y (tilt), then z (turn)."""
    ax, ay, az = (math.radians(d) for d in degrees)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


class _Frame:
    """Maps voxel indices of a sub-box of the volume to head-frame millimetres."""

    def __init__(self, geometry: Geometry, pose: Pose, lo: np.ndarray, hi: np.ndarray) -> None:
        nz, ny, nx = geometry.shape
        sp, sz = geometry.spacing_mm, geometry.slice_mm
        self.lo, self.hi = lo, hi
        x = ((np.arange(lo[2], hi[2]) - (nx - 1) / 2) * sp).astype(np.float32)
        y = ((np.arange(lo[1], hi[1]) - (ny - 1) / 2) * sp).astype(np.float32)
        z = ((np.arange(lo[0], hi[0]) - (nz - 1) / 2) * sz).astype(np.float32)
        rot = rotation_matrix(pose.rotation_deg)
        inv = (rot.T / pose.scale).astype(np.float32)
        t = np.asarray(pose.shift_mm, dtype=np.float32)
        dx, dy, dz = x - t[0], y - t[1], z - t[2]
        # u = inv @ (p - t), built by broadcasting the three 1-D axes.
        self.u = [
            inv[i, 0] * dx[None, None, :]
            + inv[i, 1] * dy[None, :, None]
            + inv[i, 2] * dz[:, None, None]
            for i in range(3)
        ]

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        return tuple(slice(int(a), int(b)) for a, b in zip(self.lo, self.hi, strict=True))  # type: ignore[return-value]


def _index_box(
    geometry: Geometry, pose: Pose, lo_mm: np.ndarray, hi_mm: np.ndarray, pad_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Voxel index bounds (clipped to the volume) of a head-frame box after the pose."""
    corners = np.array(
        [
            [x, y, z]
            for x in (lo_mm[0], hi_mm[0])
            for y in (lo_mm[1], hi_mm[1])
            for z in (lo_mm[2], hi_mm[2])
        ]
    )
    world = (rotation_matrix(pose.rotation_deg) @ (corners.T * pose.scale)).T + np.array(
        pose.shift_mm
    )
    nz, ny, nx = geometry.shape
    spacing = np.array([geometry.spacing_mm, geometry.spacing_mm, geometry.slice_mm])
    centre = (np.array([nx, ny, nz]) - 1) / 2
    lo_idx = np.floor((world.min(0) - pad_mm) / spacing + centre).astype(int)
    hi_idx = np.ceil((world.max(0) + pad_mm) / spacing + centre).astype(int) + 1
    size = np.array([nx, ny, nz])
    lo_idx, hi_idx = np.clip(lo_idx, 0, size), np.clip(hi_idx, 0, size)
    return lo_idx[::-1], hi_idx[::-1]  # to (z, y, x)


PROFILE_R_MAX = 2.5
PROFILE_SIZE = 2048


def _radial_profiles(sigma_mm: float, attenuation: str) -> tuple[np.ndarray, np.ndarray]:
    """Tables over the normalised brain radius r: emitted+scatter signal, and attenuation."""
    r = np.linspace(0.0, PROFILE_R_MAX, PROFILE_SIZE)
    a_eff = float(BRAIN_AXES_MM.mean())
    d_brain = (1 - r) * a_eff
    d_head = d_brain + SCALP_MM
    edge = lambda d, s: 0.5 * (1 + np.tanh(d / (1.2 * s)))  # noqa: E731
    brain = edge(d_brain, sigma_mm)
    head = edge(d_head, sigma_mm)
    emitted = brain + SCALP_UPTAKE * (head - brain)
    depth = np.clip(d_head, 0, None)
    if attenuation == "none":
        att = np.exp(-MU_PER_MM * depth)
    elif attenuation == "Chang":
        att = np.exp(-(MU_PER_MM - MU_CHANG_PER_MM) * depth) * (1 + 0.04 * (depth / a_eff) ** 2)
    else:
        att = np.ones_like(depth)
    scatter = SCATTER_FRACTION * edge(d_head, 3.5 * sigma_mm)
    return (emitted * att + scatter).astype(np.float32), att.astype(np.float32)


def _lookup(table: np.ndarray, u: list[np.ndarray]) -> np.ndarray:
    """Evaluate a radial table at the normalised brain radius of head-frame points."""
    r2 = (u[0] / BRAIN_AXES_MM[0]) ** 2 + (u[1] / BRAIN_AXES_MM[1]) ** 2
    r2 += (u[2] / BRAIN_AXES_MM[2]) ** 2
    index = np.sqrt(r2, out=r2)
    index *= (PROFILE_SIZE - 1) / PROFILE_R_MAX
    np.minimum(index, PROFILE_SIZE - 1, out=index)
    return table[index.astype(np.intp)]


def _capsule(
    u: list[np.ndarray], a: np.ndarray, b: np.ndarray, r0: float, r1: float, soft_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Soft indicator of a tapered capsule from a to b, and the position t (0 at a, 1 at b)."""
    ab = b - a
    length2 = float(ab @ ab)
    t = ((u[0] - a[0]) * ab[0] + (u[1] - a[1]) * ab[1] + (u[2] - a[2]) * ab[2]) / length2
    np.clip(t, 0, 1, out=t)
    dist = np.sqrt(
        (u[0] - a[0] - t * ab[0]) ** 2
        + (u[1] - a[1] - t * ab[1]) ** 2
        + (u[2] - a[2] - t * ab[2]) ** 2
    )
    radius = r0 + (r1 - r0) * t
    return np.clip((radius - dist) / soft_mm + 0.5, 0, 1), t


def _ellipsoid(u: list[np.ndarray], c: np.ndarray, axes: np.ndarray, soft_mm: float) -> np.ndarray:
    r = np.sqrt(
        ((u[0] - c[0]) / axes[0]) ** 2
        + ((u[1] - c[1]) / axes[1]) ** 2
        + ((u[2] - c[2]) / axes[2]) ** 2
    )
    return np.clip((1 - r) * axes.mean() / soft_mm + 0.5, 0, 1)


def striatal_uptake(u: list[np.ndarray], binding: Binding, soft_mm: float) -> np.ndarray:
    """Specific uptake (in units of background) of both striata, before blurring."""
    out = np.zeros(u[0].shape, dtype=np.float32)
    for side, sx in ((0, -1.0), (1, 1.0)):  # 0: patient's right, at negative x
        v = np.array([sx, 1.0, 1.0])
        caudate = binding.caudate[side]
        out += caudate * _ellipsoid(u, v * [12.0, -20.0, 7.0], np.array([6.0, 9.0, 10.0]), soft_mm)
        body, _ = _capsule(u, v * [13.0, -12.0, 13.0], v * [17.0, 12.0, 21.0], 4.0, 2.5, soft_mm)
        np.maximum(out, body * 0.8 * caudate, out=out)
        putamen, t = _capsule(u, v * [21.0, -21.0, 0.0], v * [28.0, 10.0, -2.0], 6.5, 4.5, soft_mm)
        front, back = binding.putamen_anterior[side], binding.putamen_posterior[side]
        level = front + (back - front) * t
        if binding.focal_defect and binding.focal_defect[0] == side:
            _, position, depth = binding.focal_defect
            level = level * (1 - depth * np.exp(-(((t - position) / 0.15) ** 2)))
        out += putamen * level
    return out


def render(
    geometry: Geometry,
    centre: Centre,
    pose: Pose,
    binding: Binding,
    rng: np.random.Generator,
) -> np.ndarray:
    """The stored pixel values of one exam, shape (slices, rows, columns), uint16."""
    fwhm = math.hypot(centre.fwhm_mm, pose.extra_blur_mm)
    sigma_mm = fwhm / 2.3548
    volume = np.zeros(geometry.shape, dtype=np.uint16)

    pad = 6 * sigma_mm + SCALP_MM
    lo, hi = _index_box(geometry, pose, -BRAIN_AXES_MM, BRAIN_AXES_MM, pad)
    if np.any(hi <= lo):
        return volume
    head = _Frame(geometry, pose, lo, hi)
    signal_table, att_table = _radial_profiles(sigma_mm, centre.attenuation)
    signal = _lookup(signal_table, head.u)

    slo, shi = _index_box(geometry, pose, STRIATUM_BOX_MM[0], STRIATUM_BOX_MM[1], 3 * sigma_mm)
    slo, shi = np.maximum(slo, lo), np.minimum(shi, hi)
    if np.all(shi > slo):
        box = _Frame(geometry, pose, slo, shi)
        specific = striatal_uptake(box.u, binding, soft_mm=geometry.spacing_mm)
        sigma_vox = (
            sigma_mm / geometry.slice_mm,
            sigma_mm / geometry.spacing_mm,
            sigma_mm / geometry.spacing_mm,
        )
        specific = ndimage.gaussian_filter(specific, sigma_vox, mode="constant", truncate=3.0)
        specific *= _lookup(att_table, box.u)
        inner = tuple(slice(int(a - b), int(c - b)) for a, c, b in zip(slo, shi, lo, strict=True))
        signal[inner] += specific

    counts_scale = centre.counts_per_voxel * pose.count_factor * geometry.voxel_volume_ratio(centre)
    expected = signal * np.float32(counts_scale)
    emitting = expected > 1e-3  # air: no counts to draw, and most of the box
    counts = np.zeros(expected.shape, dtype=np.float64)
    counts[emitting] = rng.poisson(expected[emitting])
    counts *= centre.value_scale
    np.rint(counts, out=counts)
    volume[head.slices] = np.clip(counts, 0, 65535).astype(np.uint16)
    return volume
