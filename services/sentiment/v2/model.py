"""sentiment v2 inference: naive Bayes over words with negation scope marked, in pure Python."""

from __future__ import annotations

import math
import re
from typing import Any

TOKEN = re.compile(r"[a-z']+|[.,;:!?]")
NEGATORS = frozenset({"not", "no", "never", "don't", "doesn't", "didn't", "isn't", "wasn't",
                      "aren't", "weren't", "can't", "won't", "nothing"})  # fmt: skip
# A negation's scope ends at punctuation or a contrast (Das & Chen 2001, Pang et al. 2002).
SCOPE_ENDS = frozenset({".", ",", ";", ":", "!", "?", "but", "however", "although"})
THRESHOLD = 0.5  # P(positive) at or above which a text is labelled positive


def sigmoid(z: float) -> float:
    """The logistic function, without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def tokens(text: str) -> list[str]:
    """Lower-cased words; inside a negation's scope each word becomes `not_<word>`."""
    out: list[str] = []
    negated = False
    for token in TOKEN.findall(text.lower()):
        if token in SCOPE_ENDS:
            negated = False
            if token.isalpha():
                out.append(token)
        elif token in NEGATORS:
            negated = True
            out.append(token)
        else:
            out.append(f"not_{token}" if negated else token)
    return out


class SentimentModel:
    """P(positive) as the prior plus per-token log-odds, each token counted every time it occurs."""

    def __init__(self, weights: dict[str, Any]) -> None:
        self.prior: float = weights["prior_log_odds"]
        self.log_odds: dict[str, float] = weights["token_log_odds"]

    def score(self, text: str) -> float:
        """P(positive) for one text; unknown tokens carry no evidence."""
        get = self.log_odds.get
        return sigmoid(self.prior + sum(get(token, 0.0) for token in tokens(text)))
