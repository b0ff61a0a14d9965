"""Features from the SBRs, an L2-regularised logistic model, and a calibrated threshold."""

from __future__ import annotations

import numpy as np

FEATURES = [
    "posterior_putamen_min",
    "putamen_min",
    "caudate_min",
    "putamen_caudate_min",
    "putamen_asymmetry",
    "age",
]


def features(sbr: dict[str, float], age: float) -> list[float]:
    put = (sbr["putamen_right"], sbr["putamen_left"])
    cau = (sbr["caudate_right"], sbr["caudate_left"])
    post = (sbr["posterior_putamen_right"], sbr["posterior_putamen_left"])
    asym = abs(put[0] - put[1]) / max(abs(put[0] + put[1]) / 2, 1e-6)
    ratio = min(p / max(c, 1e-6) for p, c in zip(put, cau, strict=True))
    return [min(post), min(put), min(cau), ratio, asym, age]


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> dict:
    """Newton-Raphson on standardised features; returns the model as plain lists."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    w = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[0, 0] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    model = {"mean": mean.tolist(), "std": std.tolist(), "weights": w.tolist()}
    model["threshold"] = calibrate(y, probability(model, x))
    return model


def probability(model: dict, x: np.ndarray) -> np.ndarray:
    z = (x - np.array(model["mean"])) / np.array(model["std"])
    logit = model["weights"][0] + z @ np.array(model["weights"][1:])
    return 1.0 / (1.0 + np.exp(-logit))


def calibrate(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold that maximises balanced accuracy on the training data."""
    best, best_t = -1.0, 0.5
    for t in np.unique(np.round(p, 4)):
        predicted = p >= t
        sens = predicted[y == 1].mean() if (y == 1).any() else 0.0
        spec = (~predicted[y == 0]).mean() if (y == 0).any() else 0.0
        if (sens + spec) / 2 > best:
            best, best_t = (sens + spec) / 2, float(t)
    return best_t
