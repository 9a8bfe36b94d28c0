"""Train every model version on the synthetic data and write its weights file.

Run from the project root: `python -m services.training.train [--trained-on YYYY-MM-DD]`.
It writes `services/training/data/*.csv` (the data sets, with their split) and
`services/<service>/<version>/weights.json`, and prints each model's held-out accuracy.
Features are built and predictions made by each version's own `model.py`, the code the
function serves with, so training and serving cannot drift apart.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from services.training.datasets import (
    CHURN_SEED,
    SENTIMENT_SEED,
    Customer,
    churn_probability,
    churn_rows,
    sentiment_rows,
    split,
)

SERVICES = Path(__file__).resolve().parents[1]
DATA = SERVICES / "training" / "data"
RIDGE = 1e-3  # L2 on standardized coefficients: only to keep Newton steps well-posed
NEWTON_STEPS = 25
SMOOTHING = 1.0  # Laplace smoothing of naive Bayes word counts
VERSIONS = (("churn", "v1"), ("churn", "v2"), ("sentiment", "v1"), ("sentiment", "v2"))


def model_module(service: str, version: str) -> ModuleType:
    """A version's `model.py`, loaded under a unique name so the versions never collide."""
    path = SERVICES / service / version / "model.py"
    spec = importlib.util.spec_from_file_location(f"mlserve_{service}_{version}_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def churn_inputs(version: str, customer: Customer) -> Any:
    """What a version's contract carries for a customer, before the model encodes it."""
    return customer.v1_features() if version == "v1" else customer


def fit_logistic(rows: Sequence[Sequence[float]], labels: Sequence[int]) -> dict[str, Any]:
    """Ridge-regularised logistic regression by Newton's method on standardized features."""
    width = len(rows[0])
    mean = [sum(row[j] for row in rows) / len(rows) for j in range(width)]
    scale = [
        math.sqrt(sum((row[j] - mean[j]) ** 2 for row in rows) / len(rows)) or 1.0
        for j in range(width)
    ]
    design = [[1.0, *((row[j] - mean[j]) / scale[j] for j in range(width))] for row in rows]
    beta = [0.0] * (width + 1)
    for _ in range(NEWTON_STEPS):
        gradient = [0.0] * (width + 1)
        hessian = [[0.0] * (width + 1) for _ in range(width + 1)]
        for x, y in zip(design, labels, strict=True):
            p = 1.0 / (1.0 + math.exp(-sum(b * v for b, v in zip(beta, x, strict=True))))
            w = p * (1.0 - p)
            for i in range(width + 1):
                gradient[i] += (y - p) * x[i]
                for j in range(i + 1):
                    hessian[i][j] += w * x[i] * x[j]
        for i in range(width + 1):
            for j in range(i):
                hessian[j][i] = hessian[i][j]
            if i:
                gradient[i] -= RIDGE * len(rows) * beta[i]
                hessian[i][i] += RIDGE * len(rows)
        step = _solve(hessian, gradient)
        beta = [b + s for b, s in zip(beta, step, strict=True)]
        if max(abs(s) for s in step) < 1e-10:
            break
    return {"mean": mean, "scale": scale, "coef": beta[1:], "intercept": beta[0]}


def fit_naive_bayes(documents: Sequence[list[str]], labels: Sequence[int]) -> dict[str, Any]:
    """Multinomial naive Bayes as a prior log-odds plus one log-odds per token."""
    counts = (Counter[str](), Counter[str]())
    for document, label in zip(documents, labels, strict=True):
        counts[label].update(document)
    vocabulary = sorted(set(counts[0]) | set(counts[1]))
    totals = [sum(c.values()) + SMOOTHING * len(vocabulary) for c in counts]
    positives = sum(labels)
    return {
        "prior_log_odds": round(math.log(positives / (len(labels) - positives)), 6),
        "token_log_odds": {
            token: round(
                math.log((counts[1][token] + SMOOTHING) / totals[1])
                - math.log((counts[0][token] + SMOOTHING) / totals[0]),
                6,
            )
            for token in vocabulary
        },
    }


def train(service: str, version: str) -> tuple[dict[str, Any], float]:
    """A version's weights (without training date) and its held-out accuracy."""
    model = model_module(service, version)
    train_rows: list[Any]
    heldout: list[Any]
    if service == "churn":
        train_rows, heldout = split(churn_rows())
        fitted = fit_logistic(
            [model.encode(churn_inputs(version, c)) for c, _ in train_rows],
            [y for _, y in train_rows],
        )
        weights = {"model": f"churn-logreg-{version}", "features": list(model.FEATURES), **fitted}
        seed = CHURN_SEED
    else:
        train_rows, heldout = split(sentiment_rows())
        fitted = fit_naive_bayes(
            [model.tokens(text) for text, _ in train_rows], [y for _, y in train_rows]
        )
        weights = {"model": f"sentiment-nb-{version}", **fitted}
        seed = SENTIMENT_SEED
    accuracy = heldout_accuracy(service, version, weights)
    weights["training"] = {
        "seed": seed,
        "train_rows": len(train_rows),
        "heldout_rows": len(heldout),
        "heldout_accuracy": round(accuracy, 4),
    }
    return weights, accuracy


def heldout_accuracy(service: str, version: str, weights: dict[str, Any]) -> float:
    """Accuracy of weights on the held-out split, predicted by the version's serving code."""
    model = model_module(service, version)
    scores: list[float]
    if service == "churn":
        customers = split(churn_rows())[1]
        churn_model = model.ChurnModel(weights)
        scores = [
            churn_model.probability(model.encode(churn_inputs(version, c))) for c, _ in customers
        ]
        labels = [y for _, y in customers]
    else:
        texts = split(sentiment_rows())[1]
        scores = [model.SentimentModel(weights).score(text) for text, _ in texts]
        labels = [y for _, y in texts]
    correct = sum(
        (score >= 0.5) == bool(label) for score, label in zip(scores, labels, strict=True)
    )
    return correct / len(labels)


def write_data(folder: Path = DATA) -> None:
    """The data sets as CSV, each row marked train or heldout, for people to inspect."""
    folder.mkdir(parents=True, exist_ok=True)
    train_rows, heldout = split(churn_rows())
    with (folder / "churn.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*Customer.__dataclass_fields__, "churned", "split", "true_probability"])
        for part, rows in (("train", train_rows), ("heldout", heldout)):
            for c, y in rows:
                writer.writerow([*c.__dict__.values(), y, part, f"{churn_probability(c):.6f}"])
    train_texts, heldout_texts = split(sentiment_rows())
    with (folder / "sentiment.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["text", "positive", "split"])
        for part, texts in (("train", train_texts), ("heldout", heldout_texts)):
            writer.writerows([text, y, part] for text, y in texts)


def main(argv: Sequence[str] | None = None) -> int:
    """Train every version, write weights and data, print held-out accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trained-on", default=datetime.now(UTC).date().isoformat())
    args = parser.parse_args(argv)
    write_data()
    for service, version in VERSIONS:
        weights, accuracy = train(service, version)
        weights = {"model": weights.pop("model"), "trained_on": args.trained_on, **weights}
        path = SERVICES / service / version / "weights.json"
        path.write_text(json.dumps(weights, indent=1) + "\n")
        shown = path.relative_to(SERVICES.parent)
        print(f"{service} {version}: held-out accuracy {accuracy:.4f} -> {shown}")
    return 0


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """x with matrix @ x = vector, by Gaussian elimination with partial pivoting."""
    size = len(vector)
    rows = [[*matrix[i], vector[i]] for i in range(size)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(col + 1, size):
            factor = rows[r][col] / rows[col][col]
            for c in range(col, size + 1):
                rows[r][c] -= factor * rows[col][c]
    solution = [0.0] * size
    for r in range(size - 1, -1, -1):
        tail = sum(rows[r][c] * solution[c] for c in range(r + 1, size))
        solution[r] = (rows[r][size] - tail) / rows[r][r]
    return solution


if __name__ == "__main__":
    sys.exit(main())
