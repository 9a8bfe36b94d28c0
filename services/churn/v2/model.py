"""churn v2 inference: logistic regression over named, typed customer features, pure Python."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

FEATURES = ("monthly_charges", "support_calls", "days_since_last_login", "tenure_months",
            "contract_annual", "contract_two_year")  # fmt: skip
THRESHOLD = 0.5


def sigmoid(z: float) -> float:
    """The logistic function, without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def encode(customer: Any) -> list[float]:
    """The model's inputs for anything with the v2 feature attributes (contract one-hot)."""
    return [
        float(customer.monthly_charges),
        float(customer.support_calls),
        float(customer.days_since_last_login),
        float(customer.tenure_months),
        float(customer.contract == "annual"),
        float(customer.contract == "two_year"),
    ]


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
