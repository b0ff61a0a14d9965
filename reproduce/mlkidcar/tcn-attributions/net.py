"""A small temporal-convolution network over the intra-operative signals, and its inputs."""

from __future__ import annotations

import os
import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from torch import nn

from data import age_years, split_rows, table_path

MINUTES = 480  # 8 h from the start of surgery; shorter surgeries are padded and masked
CHANNELS = ("map_mmhg", "hr_bpm", "spo2_pct", "temp_c", "norepinephrine_ug_kg_min", "cpb_flow_l_min")
# what monitors get wrong is treated as missing: outside these bounds
VALID = {
    "map_mmhg": (20, 200),
    "hr_bpm": (20, 220),
    "spo2_pct": (50, 100),
    "temp_c": (20, 42),
    "norepinephrine_ug_kg_min": (0, 5),
    "cpb_flow_l_min": (0, 10),
}
CENTRE = {"map_mmhg": (75, 15), "hr_bpm": (80, 15), "spo2_pct": (97, 3), "temp_c": (35, 2),
          "norepinephrine_ug_kg_min": (0, 0.2), "cpb_flow_l_min": (0, 4)}
CKD = {"1": 0, "2": 1, "3a": 2, "3b": 3, "4": 4, "5": 5}
STATIC = ("age", "creatinine", "ckd_stage", "cpb", "diabetes", "female")


def deterministic(seed: int) -> None:
    """Same seed, same weights, same predictions, on any CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def load(release, split):
    """(ids, labels, signals [n, 2 x channels + 1, MINUTES], static [n, len(STATIC)])."""
    rows, labels = split_rows(release, split)
    ids = [r["surgery_id"] for r in rows]
    table = pq.read_table(table_path(release, "signals"))
    table = table.filter(pc.is_in(table.column("surgery_id"), value_set=pa.array(ids)))
    position = {sid: i for i, sid in enumerate(ids)}
    which = np.array([position[s] for s in table.column("surgery_id").to_pylist()], dtype=np.int64)
    minute = table.column("minute").to_numpy()
    inside = (minute >= 0) & (minute < MINUTES)
    x = np.zeros((len(ids), 2 * len(CHANNELS) + 1, MINUTES), dtype=np.float32)
    x[which[inside], 2 * len(CHANNELS), minute[inside]] = 1.0  # a sample was recorded
    for c, name in enumerate(CHANNELS):
        values = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        low, high = VALID[name]
        ok = inside & np.isfinite(values) & (values >= low) & (values <= high)
        mean, scale = CENTRE[name]
        x[which[ok], c, minute[ok]] = ((values[ok] - mean) / scale).astype(np.float32)
        x[which[ok], len(CHANNELS) + c, minute[ok]] = 1.0  # observed
    static = np.array(
        [
            [
                (age_years(r.get("age")) - 67) / 10,
                np.log((r.get("baseline_creatinine_umol_l") or 90) / 90),
                CKD.get(str(r.get("ckd_stage")), 1) / 2,
                ((r.get("cpb_minutes") or 0) - 100) / 40,
                float(bool(r.get("diabetes"))),
                1.0 if r.get("sex") == "F" else 0.0,
            ]
            for r in rows
        ],
        dtype=np.float32,
    )
    return ids, labels, x, static


class TCN(nn.Module):
    def __init__(self, channels: int = 2 * len(CHANNELS) + 1, static: int = len(STATIC)) -> None:
        super().__init__()
        layers = []
        width = channels
        for dilation in (1, 2, 4, 8):
            layers += [nn.Conv1d(width, 16, 5, padding=2 * dilation, dilation=dilation), nn.ReLU()]
            width = 16
        self.temporal = nn.Sequential(*layers)
        self.static = nn.Sequential(nn.Linear(static, 8), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(16 * 2 + 8, 1))

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        recorded = x[:, -1:, :]
        h = self.temporal(x) * recorded
        mean = h.sum(dim=2) / recorded.sum(dim=2).clamp(min=1.0)
        peak = h.max(dim=2).values
        return self.head(torch.cat([mean, peak, self.static(s)], dim=1)).squeeze(1)
