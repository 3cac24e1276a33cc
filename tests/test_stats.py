"""tshub.stats against exact hand values, textbook tables, scipy and statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from tshub.stats import (
    benjamini_krieger_yekutieli,
    bowker_symmetry_test,
    comparison_table,
    contingency_table,
    instance_test,
    select_lr_multiplier,
    sign_test,
    wilcoxon_signed_rank,
    win_tie_loss,
)

# Agresti, Categorical Data Analysis (2nd ed.), coffee brand of first vs second purchase (High Point, Taster's
# Choice, Sanka, Nescafé, Brim); the symmetry model's Pearson X² is 20.4 with df = 10.
COFFEE = [[93, 17, 44, 7, 10], [9, 46, 11, 0, 9], [17, 11, 155, 9, 12], [6, 4, 9, 15, 2], [10, 4, 12, 2, 27]]


# ---------------------------------------------------------------------------------------------------- sign test
def test_sign_test_exact_binomial_values():
    assert sign_test(8, 2).pvalue == pytest.approx(2 * (1 + 10 + 45) / 1024)  # 2 P(X <= 2), n = 10
    assert sign_test(10, 0).pvalue == pytest.approx(2 / 1024)
    assert sign_test(0, 10).pvalue == pytest.approx(2 / 1024)
    assert sign_test(5, 5).pvalue == 1.0
    result = sign_test(8, 2)
    assert (result.n, result.statistic, result.effect) == (10, 8.0, 0.6)
    assert sign_test(2, 8).effect == -0.6


def test_sign_test_without_comparisons_and_bad_counts():
    assert sign_test(0, 0).pvalue == 1.0 and sign_test(0, 0).n == 0
    with pytest.raises(ValueError, match="non-negative integers"):
        sign_test(-1, 3)
    with pytest.raises(ValueError, match="non-negative integers"):
        sign_test(1.5, 3)


# ---------------------------------------------------------------------------------------------------- wilcoxon
def test_wilcoxon_hand_value_and_effect_direction():
    # d = [1, 2, 3, 4, -0.5]: ranks 2, 3, 4, 5 positive and 1 negative; exact P(T <= 1) = 2/32, two-sided 0.125
    result = wilcoxon_signed_rank([1, 2, 3, 4, 5.5], [0, 0, 0, 0, 6])
    assert result.statistic == 1.0
    assert result.pvalue == pytest.approx(0.125)
    assert result.effect == pytest.approx((14 - 1) / 15)
    assert wilcoxon_signed_rank([0, 0, 0, 0, 6], [1, 2, 3, 4, 5.5]).effect == pytest.approx(-13 / 15)


def test_wilcoxon_drops_zero_differences_and_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=30), rng.normal(0.4, 1, size=30)
    result = wilcoxon_signed_rank(a, b)
    expected = scipy_stats.wilcoxon(a, b, zero_method="wilcox")
    assert result.pvalue == pytest.approx(expected.pvalue) and result.statistic == expected.statistic
    with_zeros = wilcoxon_signed_rank(np.r_[a, 1.0, 2.0], np.r_[b, 1.0, 2.0])
    assert with_zeros.pvalue == pytest.approx(result.pvalue) and with_zeros.n == 30


def test_wilcoxon_ties_equal_differences_despite_floating_point_noise():
    # accuracies on one 150-instance test set: every difference is ±3/150 in exact arithmetic, but not bit-identical
    a, b = np.array([147, 146, 145, 144, 143, 138]) / 150, np.array([144, 143, 142, 141, 140, 141]) / 150
    result = wilcoxon_signed_rank(a, b)
    expected = scipy_stats.wilcoxon(np.full(6, 3.0) * [1, 1, 1, 1, 1, -1], zero_method="wilcox")
    assert result.statistic == 3.5 == expected.statistic
    assert result.pvalue == pytest.approx(expected.pvalue) and result.pvalue == pytest.approx(0.21875)
    assert result.effect == pytest.approx((17.5 - 3.5) / 21)
    noisy_zero = wilcoxon_signed_rank([0.1 + 0.2, 1.0, 2.0], [0.3, 0.0, 0.0])  # 0.1 + 0.2 - 0.3 = 5.6e-17
    assert noisy_zero.n == 2


def test_win_tie_loss_counts_noisy_equal_values_as_ties():
    outcome = win_tie_loss([0.1 + 0.2, 0.9, 0.1], [0.3, 0.8, 0.2])
    assert (outcome.wins, outcome.ties, outcome.losses) == (1, 1, 1)


def test_wilcoxon_degenerate_and_invalid_inputs():
    same = wilcoxon_signed_rank([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert (same.pvalue, same.n, same.effect) == (1.0, 0, 0.0)
    with pytest.raises(ValueError, match="equal length"):
        wilcoxon_signed_rank([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        wilcoxon_signed_rank([1.0, math.nan], [1.0, 2.0])


# ---------------------------------------------------------------------------------------------------- BKY
def test_bky_hand_example_is_adaptive():
    # Stage 1 (BH at 0.05/1.05) rejects 5, so m0 = 5 and stage 2 runs BH at 0.0952: p = 0.032 is rejected too,
    # which plain Benjamini–Hochberg at 0.05 (threshold 6 × 0.005 = 0.03) would not reject.
    p = [0.001, 0.002, 0.003, 0.004, 0.02, 0.032, 0.5, 0.6, 0.7, 0.8]
    rejected, q = benjamini_krieger_yekutieli(p, alpha=0.05)
    assert rejected.tolist() == [True] * 6 + [False] * 4
    bh = np.array([0.01, 0.01, 0.01, 0.01, 0.04, 0.0533333, 5 / 7, 0.75, 7 / 9, 0.8])
    np.testing.assert_allclose(q, bh * 1.05 * 5 / 10, rtol=1e-5)


def test_bky_matches_statsmodels_fdr_tsbky():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(1)
    for trial in range(200):
        p = np.concatenate([rng.uniform(size=rng.integers(1, 30)), rng.uniform(0, 0.01, size=rng.integers(0, 8))])
        if trial % 4 == 0:
            p = np.round(p, 2)  # ties
        alpha = [0.01, 0.05, 0.1][trial % 3]
        rejected, q = benjamini_krieger_yekutieli(p, alpha)
        expected_rejected, expected_q, *_ = multitest.multipletests(p, alpha, method="fdr_tsbky")
        np.testing.assert_array_equal(rejected, expected_rejected)
        np.testing.assert_allclose(q, expected_q, rtol=1e-12)
        np.testing.assert_array_equal(rejected, q <= alpha)


def test_bky_edge_cases():
    rejected, q = benjamini_krieger_yekutieli([0.001, 0.002], alpha=0.05)  # stage 1 rejects all
    assert rejected.all() and q == pytest.approx([0.002 * 1.05, 0.002 * 1.05])
    rejected, q = benjamini_krieger_yekutieli([0.3, math.nan, 0.9], alpha=0.05)  # NaN left out of m
    assert not rejected.any() and math.isnan(q[1])
    assert q[[0, 2]] == pytest.approx([min(0.3 * 2, 0.9) * 1.05, 0.9 * 1.05])  # BH over m = 2, times 1 + α
    rejected, q = benjamini_krieger_yekutieli([], alpha=0.05)
    assert rejected.shape == q.shape == (0,)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_krieger_yekutieli([1.5])
    with pytest.raises(ValueError, match="alpha"):
        benjamini_krieger_yekutieli([0.1], alpha=1.0)


# ---------------------------------------------------------------------------------------------------- Bowker
def test_bowker_on_agresti_coffee_table():
    result = bowker_symmetry_test(COFFEE)
    assert result.statistic == pytest.approx(20.41, abs=0.01)
    assert result.df == 10
    assert result.pvalue == pytest.approx(scipy_stats.chi2.sf(result.statistic, 10))
    assert 0.025 < result.pvalue < 0.026


def test_bowker_matches_statsmodels_and_is_mcnemar_for_two_classes():
    tables = pytest.importorskip("statsmodels.stats.contingency_tables")
    table = np.array(COFFEE)
    expected = tables.SquareTable(table, shift_zeros=False).symmetry()
    ours = bowker_symmetry_test(table)
    assert ours.statistic == pytest.approx(expected.statistic) and ours.pvalue == pytest.approx(expected.pvalue)
    mcnemar = bowker_symmetry_test([[10, 5], [3, 20]])
    assert mcnemar.statistic == pytest.approx((5 - 3) ** 2 / 8) and mcnemar.df == 1
    assert mcnemar.pvalue == pytest.approx(tables.mcnemar([[10, 5], [3, 20]], exact=False, correction=False).pvalue)


def test_bowker_degenerate_cells():
    agree = bowker_symmetry_test([[5, 0, 0], [0, 7, 0], [0, 0, 9]])
    assert (agree.statistic, agree.pvalue, agree.df, agree.n) == (0.0, 1.0, 0, 0)
    # the (0, 2) pair is empty: it is left out of the degrees of freedom (statsmodels would use 3)
    table = [[5, 4, 0], [1, 7, 2], [0, 6, 9]]
    result = bowker_symmetry_test(table)
    assert result.df == 2
    assert result.statistic == pytest.approx(9 / 5 + 16 / 8)
    with pytest.raises(ValueError, match="square"):
        bowker_symmetry_test([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match="non-negative"):
        bowker_symmetry_test([[1, -2], [3, 4]])


def test_contingency_table_and_instance_tests():
    referent = np.array(["a", "a", "b", "b", "c", "a"])
    transfer = np.array(["a", "b", "b", "b", "a", "a"])
    table = contingency_table(referent, transfer)
    np.testing.assert_array_equal(table, [[2, 1, 0], [0, 2, 0], [1, 0, 0]])
    assert contingency_table(referent, transfer, labels=["c", "b", "a"])[0, 2] == 1
    with pytest.raises(ValueError, match="not in the given labels"):
        contingency_table(referent, transfer, labels=["a", "b"])
    classification = instance_test("classification", referent, transfer, referent)
    assert classification.df == 2 and classification.effect is None
    y = np.linspace(0, 1, 40)
    rng = np.random.default_rng(0)
    regression = instance_test("regression", y, y + rng.normal(0, 0.01, 40), y + rng.normal(0, 0.5, 40))
    assert regression.effect > 0.5 and regression.pvalue < 1e-4  # the transfer errs less: positive effect


# ---------------------------------------------------------------------------------------------------- table
def _referent(target, seed, f1, task="classification", metric="f1_weighted", conv=0.5):
    return {
        "run_id": f"ref-{target}-{seed}",
        "kind": "referent",
        "target": target,
        "arch": "fcn",
        "seed": seed,
        "task": task,
        "metrics": {metric: f1},
        "val_metrics": {},
        "val_loss": 1.0,
        "convergence_rate": conv,
    }


def _finetune(source, target, seed, omega, test, val_accuracy, val_loss=1.0, conv=0.8):
    return {
        "run_id": f"ft-{source}-{target}-{seed}-{omega}",
        "kind": "finetune",
        "source": source,
        "target": target,
        "arch": "fcn",
        "seed": seed,
        "lr_multiplier": omega,
        "referent_id": f"ref-{target}-{seed}",
        "task": "classification",
        "metrics": {"f1_weighted": test},
        "val_metrics": {"accuracy": val_accuracy},
        "val_loss": val_loss,
        "convergence_rate": conv,
    }


def _records():
    referent_f1 = [0.70, 0.72, 0.68, 0.71, 0.69, 0.70, 0.73, 0.67]
    records = [_referent("GunPoint", s, f1) for s, f1 in enumerate(referent_f1)]
    for s, f1 in enumerate(referent_f1):
        # "good" beats the referent on every seed with ω = 1 (best on validation); ω = 0.5 is better on test
        # but worse on validation, so it must never be the one compared
        records.append(_finetune("good", "GunPoint", s, 1.0, f1 + 0.1, val_accuracy=0.9))
        records.append(_finetune("good", "GunPoint", s, 0.5, 0.99, val_accuracy=0.8))
        # "same" ties the validation accuracy across ω: the lower validation loss (ω = 0.1) wins
        records.append(_finetune("same", "GunPoint", s, 1.0, f1 - 0.2, val_accuracy=0.7, val_loss=0.9))
        records.append(
            _finetune("same", "GunPoint", s, 0.1, f1 if s % 2 else f1 + 0.01, val_accuracy=0.7, val_loss=0.5)
        )
    return records


def test_select_lr_multiplier_uses_validation_never_test():
    chosen = select_lr_multiplier(r for r in _records() if r["kind"] == "finetune")
    assert {(r["source"], r["lr_multiplier"]) for r in chosen} == {("good", 1.0), ("same", 0.1)}
    assert len(chosen) == 16


def test_comparison_table_rows_tests_and_bky():
    table = comparison_table(_records())
    assert [(row["source"], row["target"], row["arch"]) for row in table] == [
        ("good", "GunPoint", "fcn"),
        ("same", "GunPoint", "fcn"),
    ]
    good, same = table
    assert good["n"] == 8 and (good["wins"], good["ties"], good["losses"]) == (8, 0, 0)
    assert good["transfer"] == pytest.approx(0.8) and good["referent"] == pytest.approx(0.7)
    assert good["gain_pct"] == pytest.approx(0.1 / 0.7 * 100)
    assert good["sign_p"] == pytest.approx(2 / 256)
    assert good["wilcoxon_p"] == pytest.approx(scipy_stats.wilcoxon(np.full(8, 0.1)).pvalue)
    assert good["convergence_transfer"] == pytest.approx(0.8) and good["convergence_referent"] == pytest.approx(0.5)
    assert (same["wins"], same["ties"], same["losses"]) == (4, 4, 0)
    rejected, q = benjamini_krieger_yekutieli([good["wilcoxon_p"], same["wilcoxon_p"]], 0.05)
    assert [good["q"], same["q"]] == pytest.approx(q.tolist())
    assert good["decision"] == "better" and same["decision"] == "n.s."
    text = table.to_markdown()
    assert text.splitlines()[0].startswith("| source | target | arch | metric | n | transfer | referent | gain %")
    assert "| good | GunPoint | fcn | f1_weighted | 8 | 0.8 | 0.7 | +14.29 | 8/0/0 |" in text
    assert str(table) == text


def test_comparison_table_grouping_ties_and_omega_rows():
    records = _records()
    by_arch = comparison_table(records, by=("arch",))
    assert len(by_arch) == 1 and by_arch[0]["n"] == 16
    tolerant = comparison_table(records, tie_tolerance=0.05)
    assert (tolerant[0]["wins"], tolerant[1]["ties"]) == (8, 8)
    per_omega = comparison_table(records, by=("source", "lr_multiplier"))
    assert {(row["source"], row["lr_multiplier"]) for row in per_omega} == {
        ("good", 1.0),
        ("good", 0.5),
        ("same", 1.0),
        ("same", 0.1),
    }
    assert "| ω |" in per_omega.to_markdown()
    signed = comparison_table(records, test="sign")
    assert signed[0]["q"] == pytest.approx(benjamini_krieger_yekutieli([2 / 256, 0.125], 0.05)[1][0])
    with pytest.raises(ValueError, match="group by"):
        comparison_table(records, by=("dataset",))
    with pytest.raises(ValueError, match="missing"):
        comparison_table(records, metric="accuracy")


def test_comparison_table_decision_follows_the_tested_direction_not_the_mean():
    # 11 of 12 seeds lose a little, one wins by far: the mean favours transfer, both tests say it tends to lose
    referent = [0.5] * 12
    transfer = [0.5 - 0.001 * (k + 1) for k in range(11)] + [0.9]
    records = [_referent("GunPoint", s, f1) for s, f1 in enumerate(referent)]
    records += [_finetune("outlier", "GunPoint", s, 1.0, f1, val_accuracy=0.9) for s, f1 in enumerate(transfer)]
    for test in ("wilcoxon", "sign"):
        (row,) = comparison_table(records, test=test)
        assert row["improvement"] > 0 and row[f"{test}_p"] < 0.05
        assert row["decision"] == "worse"


def test_comparison_table_regression_errors_are_oriented():
    records = [_referent("SP500", s, 10.0 + s, task="regression", metric="mae") for s in range(3)]
    for s in range(3):
        records.append(
            {
                **_finetune("LEN-DB", "SP500", s, 1.0, 0.0, 0.0),
                "task": "regression",
                "metrics": {"mae": 8.0 + s},
                "val_metrics": {"mae": 1.0},
            }
        )
    (row,) = comparison_table(records)
    assert row["metric"] == "mae" and (row["wins"], row["losses"]) == (3, 0)
    assert row["improvement"] == pytest.approx(2.0) and row["gain_pct"] == pytest.approx(2 / 11 * 100)
    with pytest.raises(ValueError, match="mixes"):
        comparison_table(records + _records(), by=("arch",))


def test_the_instance_test_of_a_multi_output_regression_compares_each_series_mean_absolute_error() -> None:
    """Regression: targets of several values per series (a multi-step forecast) made the Wilcoxon test refuse its
    (n, outputs) errors, so instance_comparisons (--instance-tests) failed where comparison_table worked."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=(30, 3))
    transfer, referent = y + rng.normal(scale=0.1, size=y.shape), y + rng.normal(scale=1.0, size=y.shape)
    test = instance_test("regression", y, transfer, referent)
    expected = scipy_stats.wilcoxon(np.abs(referent - y).mean(axis=1), np.abs(transfer - y).mean(axis=1))
    assert test.n == 30 and test.effect > 0 and test.pvalue == pytest.approx(expected.pvalue, rel=1e-6)
