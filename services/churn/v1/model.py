"""churn v1 inference: logistic regression over four standardized numbers, in pure Python."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

FEATURES = ("monthly_charges", "support_calls", "days_since_last_login", "contract_months")


def sigmoid(z: float) -> float:
    """The logistic function, without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def encode(values: Sequence[float]) -> list[float]:
    """The model's inputs for the contract's four numbers (identity: v1 has no encoding)."""
    return [float(value) for value in values]


class ChurnModel:
    """Churn probability from `encode`d features with the trained mean, scale and coefficients."""

    def __init__(self, weights: dict[str, Any]) -> None:
        if tuple(weights["features"]) != FEATURES:
            raise ValueError(f"weights are for features {weights['features']}, not {FEATURES}")
        self.mean: list[float] = weights["mean"]
        self.scale: list[float] = weights["scale"]
        self.coef: list[float] = weights["coef"]
        self.intercept: float = weights["intercept"]

    def probability(self, features: Sequence[float]) -> float:
        """P(churn) for one customer's encoded features."""
        z = self.intercept + sum(
            c * (x - m) / s
            for c, x, m, s in zip(self.coef, features, self.mean, self.scale, strict=True)
        )
        return sigmoid(z)
