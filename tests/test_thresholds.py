"""Label-free thresholds: a 1%-FPR threshold computable by hand, ties, the too-few-images note, the
threshold unchanged when the test labels change, fallbacks, and the test-set rates at a threshold."""

import json
import math

import numpy as np
import pytest

from adnkit.core.errors import AdnkitError
from adnkit.evaluation.threshold import (
    THRESHOLD_METHODS,
    Threshold,
    choose_threshold,
    rates_at,
    train_quantile_threshold,
    val_fpr_threshold,
    youden_threshold,
)

LABELS = [0, 0, 0, 0, 1, 1, 1]
SCORES = [0.1, 0.2, 0.3, 0.65, 0.6, 0.7, 0.9]


def test_one_percent_of_200_scores_by_hand():
    # 200 validation scores 1..200, at most 1% (2 images) may score >= threshold: 199 flags 199 and 200.
    t = val_fpr_threshold(np.arange(1, 201), target_fpr=0.01)
    assert t.value == 199.0 and t.method == "val_fpr" and t.n_val == 200
    assert t.val_fpr == pytest.approx(0.01) and t.target_fpr == 0.01
    assert "2 of them (1%)" in t.text and "no test labels" in t.text and "Note" not in t.text
    assert val_fpr_threshold(np.arange(1, 201), target_fpr=0.05).value == 191.0  # 10 allowed: 191..200
    shuffled = np.random.default_rng(0).permutation(np.arange(1, 201))
    assert val_fpr_threshold(shuffled).value == 199.0  # the order of the scores does not matter
    assert val_fpr_threshold(np.arange(1, 301), target_fpr=0.01).value == 298.0  # 0.01 * 300 = 3 in floats


def test_ties_at_the_top_put_the_threshold_just_above():
    scores = np.r_[np.arange(1, 198), [200.0, 200.0, 200.0]]  # 200 scores; 3 tied at the top, 2 allowed
    t = val_fpr_threshold(scores)
    assert t.value > 200 and t.value == np.nextafter(200.0, np.inf) and t.val_fpr == 0.0
    assert "just above the highest" in t.text
    tied = val_fpr_threshold(np.r_[np.arange(1, 197), [198.0, 198.0, 199.0, 200.0]], target_fpr=0.02)
    assert tied.value == 198.0 and tied.val_fpr == pytest.approx(0.02)  # 4 allowed: 198, 198, 199, 200


def test_too_few_validation_images_get_a_note():
    t = val_fpr_threshold(np.linspace(0, 1, 50), target_fpr=0.01)
    assert t.value > 1.0 and t.val_fpr == 0.0  # 0.01 * 50 = 0.5: no image may be flagged
    assert "Note: 50 validation images are too few" in t.text and "1/50 = 2%" in t.text
    assert "Note" not in val_fpr_threshold(np.linspace(0, 1, 100), target_fpr=0.01).text


def test_threshold_is_unchanged_when_test_labels_change():
    rng = np.random.default_rng(3)
    val, test_scores = rng.normal(size=80), rng.normal(size=40)
    labels_a = rng.integers(0, 2, 40)
    labels_b = 1 - labels_a  # every good test image now defective and back
    a = choose_threshold("val_fpr", val_scores=val, test_labels=labels_a, test_scores=test_scores)
    b = choose_threshold("val_fpr", val_scores=val, test_labels=labels_b, test_scores=test_scores)
    assert a == b and a.value == val_fpr_threshold(val).value


def test_no_validation_split_falls_back_to_train_quantile_and_says_so():
    train = np.arange(101, dtype=float)  # 0..100: the 0.9 quantile is 90
    for val in (None, []):
        t = choose_threshold("val_fpr", val_scores=val, train_scores=train, quantile=0.9)
        assert (t.value, t.method, t.requested) == (90.0, "train_quantile", "val_fpr")
        assert t.text.startswith("There are no validation images (val_fraction 0") and "quantile" in t.text
        assert t.val_fpr is None and t.n_val == 0
    with pytest.raises(AdnkitError, match="no training scores") as err:
        choose_threshold("val_fpr", val_scores=None)
    assert "\n" not in str(err.value)


def test_youden_and_train_quantile_are_kept_and_record_the_validation_fpr():
    y = youden_threshold(LABELS, SCORES)
    # J is best at the score 0.6; the threshold sits midway to the next lower score (0.3): same test decisions
    assert y.value == pytest.approx(0.45) and "chosen on the test set" in y.text
    assert ((np.asarray(SCORES) >= y.value) == (np.asarray(SCORES) >= 0.6)).all()
    val = [0.1, 0.2, 0.5, 0.61, 0.7]
    t = choose_threshold("youden", test_labels=LABELS, test_scores=SCORES, val_scores=val)
    assert t.value == pytest.approx(0.45) and t.val_fpr == pytest.approx(3 / 5) and t.n_val == 5
    one_class = choose_threshold("youden", test_labels=[0, 0], test_scores=[0.1, 0.2], train_scores=[1, 2, 3])
    assert one_class.method == "train_quantile" and "only one class" in one_class.text
    q = train_quantile_threshold([1.0, 2.0, 3.0, 4.0, 5.0], 0.5)
    assert q.value == 3.0 and "sit low" in q.text
    assert THRESHOLD_METHODS == ("val_fpr", "youden", "train_quantile")
    with pytest.raises(AdnkitError, match="val_fpr, youden, train_quantile"):
        choose_threshold("otsu")
    with pytest.raises(AdnkitError, match="target_fpr=1.5"):
        val_fpr_threshold([1.0, 2.0], target_fpr=1.5)
    with pytest.raises(AdnkitError, match="NaN"):
        val_fpr_threshold([1.0, float("nan")])


def test_the_record_is_json_ready_and_reads_back():
    t = val_fpr_threshold(np.arange(1, 201))
    d = t.to_record()
    assert set(d) == {"threshold", "threshold_method", "threshold_kind", "threshold_requested",
                      "threshold_target_fpr", "threshold_val_fpr", "n_val"}
    assert d["threshold"] == 199.0 and d["threshold_kind"] == "val_fpr" and d["threshold_val_fpr"] == 0.01
    assert d["threshold_method"] == t.text  # metrics.json's name for the sentence
    assert math.isnan(Threshold(1.0, "youden", "youden", "x").to_record()["threshold_target_fpr"])
    assert Threshold.from_record(json.loads(json.dumps(d))) == t
    old = Threshold.from_record({"threshold": 1.5, "threshold_method": "old way"})  # runs before threshold_kind
    assert (old.value, old.text, old.method, old.target_fpr) == (1.5, "old way", "", None)
    assert t.source_line() == "threshold 199 (val_fpr: at most 1% of 200 validation images flagged; measured 1%)"


def test_the_line_for_people_is_short_and_says_the_method_and_any_fallback():
    """`adnkit score`'s last line: one short line; the sentence stays in metrics.json (threshold_method)."""
    youden = choose_threshold("youden", test_labels=[0, 1, 0, 1], test_scores=[0.1, 0.9, 0.2, 0.8],
                              val_scores=np.arange(10) / 10)
    assert youden.source_line() == ("threshold 0.5 (youden: chosen on the test set's labels, so its accuracy there "
                                    "is optimistic; flags 50% of 10 validation images)")
    fallback = choose_threshold("val_fpr", train_scores=np.arange(50))
    assert fallback.source_line().startswith("threshold 48.51 (train_quantile: ") and \
        fallback.source_line().endswith(", as val_fpr could not be used)")
    old = Threshold.from_record({"threshold": 1.5, "threshold_method": "Set by an older adnkit. Details."})
    assert old.source_line() == "threshold 1.5 (Set by an older adnkit)"
    for t in (youden, fallback, val_fpr_threshold(np.arange(1, 48))):
        assert "\n" not in t.source_line() and len(t.source_line()) < len(t.text)


def test_rates_at_a_threshold_by_hand():
    r = rates_at(LABELS, SCORES, 0.6)  # called defective: 0.65, 0.6, 0.7, 0.9 -> tp 3, fp 1
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (3, 1, 3, 0)
    assert r["tpr"] == 1.0 and r["fpr"] == 0.25 and r["precision"] == 0.75 and r["f1"] == pytest.approx(6 / 7)
    nothing = rates_at(LABELS, SCORES, 5.0)
    assert math.isnan(nothing["precision"]) and nothing["tpr"] == 0.0 and nothing["f1"] == 0.0
    good_only = rates_at([0, 0], [0.1, 0.2], 0.15)
    assert math.isnan(good_only["tpr"]) and good_only["fpr"] == 0.5
