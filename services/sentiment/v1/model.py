"""sentiment v1 inference: multinomial naive Bayes over lower-cased words, in pure Python."""

from __future__ import annotations

import math
import re
from typing import Any

WORD = re.compile(r"[a-z']+")


def sigmoid(z: float) -> float:
    """The logistic function, without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def tokens(text: str) -> list[str]:
    """The words naive Bayes counts: lower-cased, apostrophes kept (don't, isn't)."""
    return WORD.findall(text.lower())


class SentimentModel:
    """P(positive) as the prior plus per-token log-odds, each token counted every time it occurs."""

    def __init__(self, weights: dict[str, Any]) -> None:
        self.prior: float = weights["prior_log_odds"]
        self.log_odds: dict[str, float] = weights["token_log_odds"]

    def score(self, text: str) -> float:
        """P(positive) for one text; unknown words carry no evidence."""
        get = self.log_odds.get
        return sigmoid(self.prior + sum(get(token, 0.0) for token in tokens(text)))
