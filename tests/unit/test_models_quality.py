"""The shipped models, judged on the held-out split their training script produces."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from services.training.datasets import churn_probability, churn_rows, sentiment_rows, split
from services.training.train import (
    DATA,
    SERVICES,
    VERSIONS,
    churn_inputs,
    heldout_accuracy,
    model_module,
    train,
    write_data,
)

# Stated quality bars. Churn labels are Bernoulli draws from a known logistic model, so no model
# can beat the ground truth's own accuracy on them; v1 lacks tenure_months and the contract type
# and only has to beat "nobody churns" clearly. Sentiment v1 (plain words) cannot see negation,
# which v2 (negation scope) can; a fifth of the messages are negated.
MIN_MARGIN_OVER_MAJORITY = {("churn", "v1"): 0.03, ("sentiment", "v1"): 0.08}
MAX_GAP_TO_GROUND_TRUTH = {("churn", "v2"): 0.02}
MIN_ACCURACY = {("sentiment", "v2"): 0.90}
MIN_V2_GAIN = 0.05
MAX_CHURN_V2_PROBABILITY_ERROR = 0.03


def shipped(service: str, version: str) -> dict[str, Any]:
    """The weights file the function ships."""
    return json.loads((SERVICES / service / version / "weights.json").read_text())


def majority_accuracy(labels: list[int]) -> float:
    """Accuracy of always answering the more frequent label."""
    positive = sum(labels) / len(labels)
    return max(positive, 1 - positive)


def test_given_shipped_churn_v1_when_judged_on_heldout_then_it_beats_the_majority() -> None:
    # GIVEN the held-out customers and the shipped v1 weights
    labels = [y for _, y in split(churn_rows())[1]]
    # WHEN judged by the serving code, THEN it clearly beats "nobody churns"
    accuracy = heldout_accuracy("churn", "v1", shipped("churn", "v1"))
    assert accuracy >= majority_accuracy(labels) + MIN_MARGIN_OVER_MAJORITY[("churn", "v1")]


def test_given_shipped_churn_v2_when_judged_on_heldout_then_it_nears_the_ground_truth() -> None:
    # GIVEN the held-out customers and the accuracy of the true model that drew their labels
    heldout = split(churn_rows())[1]
    truth = sum((churn_probability(c) >= 0.5) == bool(y) for c, y in heldout) / len(heldout)
    # WHEN the shipped v2 is judged, THEN it is within the stated gap of the ground truth
    accuracy = heldout_accuracy("churn", "v2", shipped("churn", "v2"))
    assert accuracy >= truth - MAX_GAP_TO_GROUND_TRUTH[("churn", "v2")]


def test_given_shipped_churn_v2_when_compared_to_ground_truth_then_probabilities_agree() -> None:
    # GIVEN the held-out customers, WHEN v2 predicts their churn probability
    module = model_module("churn", "v2")
    model = module.ChurnModel(shipped("churn", "v2"))
    heldout = split(churn_rows())[1]
    error = sum(
        abs(model.probability(module.encode(churn_inputs("v2", c))) - churn_probability(c))
        for c, _ in heldout
    ) / len(heldout)
    # THEN it is calibrated: on average within 3 points of the true probability
    assert error < MAX_CHURN_V2_PROBABILITY_ERROR


def test_given_shipped_sentiment_v1_when_judged_on_heldout_then_it_beats_the_majority() -> None:
    labels = [y for _, y in split(sentiment_rows())[1]]
    accuracy = heldout_accuracy("sentiment", "v1", shipped("sentiment", "v1"))
    margin = MIN_MARGIN_OVER_MAJORITY[("sentiment", "v1")]
    assert accuracy >= majority_accuracy(labels) + margin


def test_given_shipped_sentiment_v2_when_judged_on_heldout_then_it_meets_the_bar() -> None:
    accuracy = heldout_accuracy("sentiment", "v2", shipped("sentiment", "v2"))
    assert accuracy >= MIN_ACCURACY[("sentiment", "v2")]


@pytest.mark.parametrize("service", ["churn", "sentiment"])
def test_given_both_majors_when_judged_on_heldout_then_v2_is_clearly_better(service: str) -> None:
    # GIVEN the shipped v1 and v2 of a service, WHEN judged on the same held-out split
    v1 = heldout_accuracy(service, "v1", shipped(service, "v1"))
    v2 = heldout_accuracy(service, "v2", shipped(service, "v2"))
    # THEN the breaking change bought real quality
    assert v2 >= v1 + MIN_V2_GAIN


@pytest.mark.parametrize(("service", "version"), VERSIONS)
def test_given_training_script_when_rerun_then_it_reproduces_the_shipped_weights(
    service: str, version: str
) -> None:
    # GIVEN the shipped weights, WHEN the training script trains the version again
    weights, accuracy = train(service, version)
    # THEN everything but the training date is what ships (so the weights come from this code)
    expected = {k: v for k, v in shipped(service, version).items() if k != "trained_on"}
    assert set(weights) == set(expected)
    for key, value in expected.items():
        assert _close(weights[key], value), key
    assert accuracy == pytest.approx(expected["training"]["heldout_accuracy"], abs=1e-4)


def test_given_data_folder_when_regenerated_then_the_shipped_csvs_match(tmp_path: Path) -> None:
    # GIVEN the CSVs in the repository, WHEN the generator writes them afresh
    write_data(tmp_path)
    # THEN they are byte for byte the same
    for name in ("churn.csv", "sentiment.csv"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_given_two_generations_when_seeded_alike_then_the_data_is_identical() -> None:
    assert churn_rows() == churn_rows()
    assert sentiment_rows() == sentiment_rows()
    assert churn_rows(seed=1, rows=50) != churn_rows(seed=2, rows=50)


def _close(actual: Any, expected: Any) -> bool:
    """Equal, with floats compared to 1e-9 relative (libm may differ in the last bit)."""
    if isinstance(expected, float):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, dict):
        return set(actual) == set(expected) and all(
            _close(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(map(_close, actual, expected))
    return bool(actual == expected)
