"""Deterministic synthetic data sets the models are trained and judged on; seeded, pure Python."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TypeVar

HELDOUT_FRACTION = 0.2
CHURN_SEED = 20260901
CHURN_ROWS = 6000
SENTIMENT_SEED = 20270115
SENTIMENT_ROWS = 5000
SENTIMENT_LABEL_NOISE = 0.03
CONTRACTS = ("monthly", "annual", "two_year")
CONTRACT_MONTHS = {"monthly": 1, "annual": 12, "two_year": 24}
T = TypeVar("T")


@dataclass(frozen=True)
class Customer:
    """One customer as the churn v2 contract names it; v1 sees four of these numbers."""

    monthly_charges: float
    support_calls: int
    days_since_last_login: int
    contract: str
    tenure_months: int

    def v1_features(self) -> list[float]:
        """The four numbers churn v1 takes, in its contract's order."""
        return [
            self.monthly_charges,
            float(self.support_calls),
            float(self.days_since_last_login),
            float(CONTRACT_MONTHS[self.contract]),
        ]


def churn_logit(customer: Customer) -> float:
    """The known ground truth: log-odds that a customer churns within the quarter."""
    return (
        -0.4
        + 0.035 * (customer.monthly_charges - 70)
        + 0.55 * (customer.support_calls - 1.5)
        + 0.06 * (customer.days_since_last_login - 12)
        - 0.08 * (customer.tenure_months - 30)
        - 1.0 * (customer.contract == "annual")
        - 2.0 * (customer.contract == "two_year")
    )


def churn_probability(customer: Customer) -> float:
    """The ground-truth churn probability."""
    return 1.0 / (1.0 + math.exp(-churn_logit(customer)))


def churn_rows(seed: int = CHURN_SEED, rows: int = CHURN_ROWS) -> list[tuple[Customer, int]]:
    """Customers with a churned (1) / stayed (0) label drawn from the ground truth."""
    rng = random.Random(seed)
    data = []
    for _ in range(rows):
        customer = Customer(
            monthly_charges=round(rng.uniform(20.0, 120.0), 2),
            support_calls=min(12, int(rng.expovariate(0.6))),
            days_since_last_login=min(90, int(rng.expovariate(1 / 12))),
            contract=rng.choices(CONTRACTS, weights=(0.55, 0.30, 0.15))[0],
            tenure_months=rng.randint(0, 72),
        )
        data.append((customer, int(rng.random() < churn_probability(customer))))
    return data


POSITIVE = ("great", "excellent", "good", "amazing", "helpful", "friendly", "fast", "reliable",
            "smooth", "fantastic", "pleasant", "easy")  # fmt: skip
NEGATIVE = ("bad", "terrible", "slow", "awful", "rude", "broken", "useless", "poor",
            "disappointing", "confusing", "expensive", "buggy")  # fmt: skip
POSITIVE_VERBS = ("love", "like", "enjoy", "recommend", "appreciate")
NEGATIVE_VERBS = ("hate", "dislike", "regret", "avoid", "resent")
SUBJECTS = ("the app", "the support team", "delivery", "the product", "my order", "the update",
            "checkout", "customer service", "the refund", "the website", "the price",
            "the installation")  # fmt: skip
INTENSIFIERS = ("", "", "very", "really", "so", "quite", "extremely")
OPENERS = ("", "", "", "honestly,", "overall", "well,", "today", "again", "to be fair,")
ENDINGS = ("", "", ".", "!", " this time.", " as usual.", " for me.")


def sentiment_rows(seed: int = SENTIMENT_SEED, rows: int = SENTIMENT_ROWS) -> list[tuple[str, int]]:
    """Customer messages with a positive (1) / negative (0) label, a few labels flipped."""
    rng = random.Random(seed)
    data = []
    for _ in range(rows):
        text, label = _message(rng)
        if rng.random() < SENTIMENT_LABEL_NOISE:
            label = 1 - label
        data.append((text, label))
    return data


def _message(rng: random.Random) -> tuple[str, int]:
    def adjective(positive: bool) -> str:
        return rng.choice(POSITIVE if positive else NEGATIVE)

    def intensified(positive: bool) -> str:
        return " ".join(filter(None, (rng.choice(INTENSIFIERS), adjective(positive))))

    positive = rng.random() < 0.5
    subject, other = rng.sample(SUBJECTS, 2)
    kind = rng.random()
    if kind < 0.45:
        clause = f"{subject} was {intensified(positive)}"
    elif kind < 0.65:
        # Negation flips the polarity of the word that follows: unigrams cannot see that.
        negation = rng.choice(("was not", "is not", "wasn't", "isn't", "was never"))
        clause = f"{subject} {negation} {intensified(not positive)}"
    elif kind < 0.8:
        verb = rng.choice(POSITIVE_VERBS if positive else NEGATIVE_VERBS)
        clause = f"i {verb} {subject}"
    elif kind < 0.9:
        verb = rng.choice(NEGATIVE_VERBS if positive else POSITIVE_VERBS)
        clause = f"i don't {verb} {subject}"
    else:
        clause = f"{subject} was {adjective(not positive)} but {other} was {intensified(positive)}"
    words = " ".join(filter(None, (rng.choice(OPENERS), clause)))
    text = words + rng.choice(ENDINGS)
    return (text[0].upper() + text[1:] if rng.random() < 0.5 else text), int(positive)


def split(rows: list[T]) -> tuple[list[T], list[T]]:
    """(train, held-out): the last HELDOUT_FRACTION of the rows are held out."""
    cut = len(rows) - round(len(rows) * HELDOUT_FRACTION)
    return rows[:cut], rows[cut:]
