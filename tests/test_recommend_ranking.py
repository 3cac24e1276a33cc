"""Judging and combining recommender methods: the metrics on truth tables with known answers, leave-one-target-out
that never lets a ranker see the target it scores, and the registered ``dtw+logme`` method on real zoo checkpoints."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

from tshub.recommender import recommend
from tshub.recommender.evaluation import TargetTruth, baselines, chosen_on_other_targets, judge, summarise
from tshub.recommender.ranker import (
    PairwiseLogisticRanker,
    RidgeRanker,
    leave_one_target_out,
    rank_mean,
    standardise,
)

ZOO = Path(__file__).resolve().parents[1] / "zoo"
TRUTH = TargetTruth("T", {"A": 0.9, "B": 0.8, "C": 0.8, "D": 0.6}, scratch=0.85)


# ------------------------------------------------------------------------------------------------------ metrics
def test_judge_scores_the_first_pick_with_ties_shared():
    best = judge({"A": 3.0, "B": 2.0, "C": 1.0, "D": 0.0}, TRUTH)
    assert best["pick"] == ["A"] and best["regret"] == 0 and best["rank"] == 1 and best["top1"]
    assert best["kendall"] == pytest.approx(kendalltau([3, 2, 1, 0], [0.9, 0.8, 0.8, 0.6])[0])
    second = judge({"A": 0.0, "B": 5.0, "C": 1.0, "D": 0.0}, TRUTH)  # B shares ranks 2-3 with C
    assert second["accuracy"] == 0.8 and second["regret"] == pytest.approx(0.1) and second["rank"] == 2.5
    tied = judge({"A": 1.0, "D": 1.0, "B": 0.0}, TRUTH)  # A or D at random; C unscored is never picked
    assert tied["pick"] == ["A", "D"] and tied["accuracy"] == pytest.approx(0.75)
    assert tied["rank"] == 2.5 and tied["top1"] == 0.5 and tied["scored"] == 3
    blind = judge({}, TRUTH)  # a method that scores nothing picks at random
    assert blind["accuracy"] == pytest.approx(0.775) and blind["kendall"] is None


def test_a_tie_at_the_top_hits_the_best_as_often_as_its_random_pick_does():
    """The tie model of ``judge`` (one of the tied candidates at random) holds for top-1 too: a pick tied between
    the best and another is a hit half the time, as its accuracy and rank are their means."""
    assert judge({"A": 1.0, "D": 1.0}, TRUTH)["top1"] == 0.5
    assert judge({}, TRUTH)["top1"] == 0.25  # at random among four, one of them the best
    outcomes = {t: {**baselines(TRUTH), "m": judge({"A": 1.0, "D": 1.0}, TRUTH)} for t in ("t1", "t2", "t3")}
    assert summarise(outcomes)["m"]["top1"] == 1.5


def test_baselines_are_the_best_the_uniform_pick_and_scratch_in_the_same_terms():
    b = baselines(TRUTH)
    assert b["oracle"] == {"accuracy": 0.9, "regret": 0.0, "rank": 1.0}
    assert b["random"]["accuracy"] == pytest.approx(0.775) and b["random"]["regret"] == pytest.approx(0.125)
    assert b["random"]["rank"] == 2.5
    assert b["scratch"]["regret"] == pytest.approx(0.05) and b["scratch"]["rank"] == 2.0  # only A is better
    assert "scratch" not in baselines(TargetTruth("T", TRUTH.accuracy))


def test_summarise_counts_targets_and_runs_the_sign_tests():
    # 10 targets: "good" picks the best on 9 and the worst on 1; "flat" picks B (0.8) everywhere
    outcomes = {}
    for i in range(10):
        scores_good = {"A": 1.0} if i else {"D": 1.0}
        outcomes[f"t{i}"] = {
            **baselines(TRUTH),
            "good": judge(scores_good, TRUTH),
            "flat": judge({"B": 1.0}, TRUTH),
            "coin": judge({"A": 1.0} if i % 2 else {"D": 1.0}, TRUTH),  # 5 wins, 5 losses vs random
        }
    rows = summarise(outcomes, default="flat")
    good = rows["good"]
    assert good["vs_random"]["wtl"] == [9, 0, 1] and good["vs_random"]["p"] == pytest.approx(22 / 1024)
    assert good["vs_scratch"]["wtl"] == [9, 0, 1] and good["vs_default"]["wtl"] == [9, 0, 1]
    assert good["top1"] == 9 and good["regret"] == pytest.approx(0.03) and good["median_rank"] == 1.0
    assert good["regret_ci"][0] <= 0.03 <= good["regret_ci"][1]
    assert rows["flat"]["vs_scratch"]["wtl"] == [0, 0, 10] and "vs_default" not in rows["flat"]
    assert rows["flat"]["regret_ci"] == pytest.approx([0.1, 0.1])  # the same regret on every target
    assert rows["flat"]["vs_random"]["wtl"] == [10, 0, 0]  # 0.8 beats the uniform pick's 0.775 everywhere
    assert good["vs_random"]["bky"] and rows["flat"]["vs_random"]["bky"]  # p = 0.021 and 0.002: both survive
    assert rows["coin"]["vs_random"]["p"] == 1.0 and not rows["coin"]["vs_random"]["bky"]


def test_a_method_significantly_worse_than_random_is_said_worse_not_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the vs-random sign test is two-sided, and its corrected rejection was read as a pass: a method
    that picked the worst source on every target "beat a random pick significantly", its table cell **yes**, and the
    protocol's default rule could have shipped it. A method whose regret is paired with random's is judged on the
    per-target differences: one at 0.10 everywhere against a random pick at 0.05 or 0.20 did not clear it."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import rank_methods

    outcomes = {}
    for i in range(12):
        truth = TargetTruth(f"t{i}", {"A": 0.9, "B": 0.8, "C": 0.8, "D": 0.6 if i % 2 else 0.75})
        outcomes[truth.target] = {
            **baselines(truth),
            "anti": judge({"D": 1.0}, truth),  # the worst every time
            "good": judge({"A": 1.0}, truth),
        }
    rows = summarise(outcomes)
    anti = rows["anti"]["vs_random"]
    assert anti["wtl"] == [0, 0, 12] and anti["bky"] and not anti["beats"]
    assert rows["good"]["vs_random"]["beats"]
    said = rank_methods.verdict(rows)
    assert said == "Beat a random pick significantly after the correction: good." and "anti" not in said
    assert ", **worse**" in rank_methods.summary_row("anti", rows["anti"], minirocket=False)
    assert ", **yes**" in rank_methods.summary_row("good", rows["good"], minirocket=False)
    # the paired interval: regret 0.10 on every target, random's 0.05 and 0.20 in turn (mean 0.125)
    flat = {"accuracy": 0.8, "regret": 0.1, "rank": 2.0, "top1": 0.0, "kendall": None, "spearman": None, "pick": ["B"]}
    paired = {
        f"t{i}": {
            "oracle": {"accuracy": 0.9, "regret": 0.0, "rank": 1.0},
            "random": {"accuracy": 0.9 - (0.05 if i % 2 else 0.2), "regret": 0.05 if i % 2 else 0.2, "rank": 2.0},
            "flat": flat,
        }
        for i in range(24)
    }
    rows = summarise(paired)
    low, high = rows["flat"]["regret_gain_ci"]
    assert low < 0 < high  # random's regret less the method's, per target: no gain shown
    assert "lies wholly above 0: none" in rank_methods.verdict(rows)


def test_the_mean_correlations_say_over_how_many_targets_they_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: τ and ρ are undefined on a target where a method scores every candidate alike, and their means
    left such targets out without saying so: a method constant on most targets showed the τ of the few others."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import rank_methods

    outcomes = {}
    for i in range(4):
        truth = TargetTruth(f"t{i}", {"A": 0.9, "B": 0.8, "C": 0.7})
        constant = i < 3  # three targets where the method cannot tell the candidates apart
        scores = {"A": 1.0, "B": 1.0, "C": 1.0} if constant else {"A": 3.0, "B": 2.0, "C": 1.0}
        outcomes[truth.target] = {**baselines(truth), "mostly blind": judge(scores, truth)}
    row = summarise(outcomes)["mostly blind"]
    assert row["kendall"] == pytest.approx(1.0) and row["kendall_targets"] == row["spearman_targets"] == 1
    assert "| 1.000 (1 of 4) | 1.000 (1 of 4) |" in rank_methods.summary_row("mostly blind", row, minirocket=False)


def test_minirocket_ties_within_its_rounding_and_every_row_meets_the_referents():
    """MiniRocket's table is rounded to 4 decimals: within that (advice_rules.MINIROCKET_TIE) it ties, in ranks and in
    W/T/L, as advice_rules.beats counts it; accuracies equal up to float noise share a rank; the baselines are compared
    with the referents too (scratch against MiniRocket, the random pick against both)."""
    noisy = TargetTruth("T", {"A": 0.1 + 0.2, "B": 0.3, "C": 0.2}, scratch=0.2, minirocket=0.30004)
    assert judge({"A": 1.0}, noisy)["rank"] == judge({"B": 1.0}, noisy)["rank"] == 1.5
    b = baselines(noisy)
    assert b["minirocket"]["rank"] == 1.5 and b["scratch"]["rank"] == 3.0
    outcomes = {"T": {**b, "m": judge({"A": 1.0}, noisy)}}
    rows = summarise(outcomes)
    assert rows["m"]["vs_minirocket"]["wtl"] == [0, 1, 0] and rows["m"]["vs_scratch"]["wtl"] == [1, 0, 0]
    assert rows["scratch"]["vs_minirocket"]["wtl"] == [0, 0, 1] and rows["minirocket"]["vs_scratch"]["wtl"] == [1, 0, 0]
    assert "vs_scratch" not in rows["scratch"] and rows["random"]["vs_scratch"]["wtl"] == [1, 0, 0]
    assert rows["m"]["max_regret"] == pytest.approx(0.0) and rows["random"]["max_regret"] == pytest.approx(
        0.3 - 0.8 / 3
    )


def test_the_method_chosen_on_other_targets_is_judged_on_the_held_out_one():
    outcomes = {
        "t1": {"m1": {"regret": 0.0}, "m2": {"regret": 0.1}},
        "t2": {"m1": {"regret": 0.0}, "m2": {"regret": 0.1}},
        "t3": {"m1": {"regret": 0.5}, "m2": {"regret": 0.0}},
    }
    chosen = chosen_on_other_targets(outcomes, ["m1", "m2"])
    # t1: on t2-t3, m1 averages 0.25 and m2 0.05, so m2; t3: on t1-t2 m1 is best, so t3 gets m1's miss
    assert {t: c["chosen"] for t, c in chosen.items()} == {"t1": "m2", "t2": "m2", "t3": "m1"}
    assert [c["regret"] for c in chosen.values()] == [0.1, 0.1, 0.5]


# ----------------------------------------------------------------------------------------------- combinations
def test_rank_mean_scales_ranks_and_counts_missing_as_the_middle():
    signals = np.array([[1.0, 10.0], [2.0, np.nan], [3.0, 30.0]])
    assert rank_mean(signals) == pytest.approx([0.0, 0.5, 1.0])
    assert rank_mean(np.array([[5.0], [5.0]])) == pytest.approx([0.5, 0.5])


def test_rank_mean_ties_candidates_whose_ranks_are_a_permutation_of_each_other():
    # ranks (8, 10, 11) and (10, 11, 8) of 12: equal means, which summing k/11 in another order breaks by 1e-16,
    # so a pick (key == max) or Kendall's τ-b would tell them apart by floating-point noise
    ranks = np.zeros((12, 3))
    ranks[0], ranks[1] = (8, 10, 11), (10, 11, 8)
    for j in range(3):
        ranks[2:, j] = [k for k in range(12) if k not in ranks[:2, j]]
    scores = rank_mean(ranks)
    assert scores[0] == scores[1]


def test_standardise_is_per_column_and_blanks_what_carries_nothing():
    z = standardise(np.array([[1.0, 7.0, np.nan], [3.0, 7.0, np.nan], [np.nan, 7.0, np.nan]]))
    assert z[:, 0] == pytest.approx([-1.0, 1.0, 0.0]) and not z[:, 1:].any()


# ------------------------------------------------------------------------------------- leave-one-target-out
def _leaky_world(n_targets: int = 8, n_candidates: int = 10) -> tuple[dict, dict]:
    """Accuracies unrelated to 3 noise signals; plus, per target k, a column that equals target k's accuracies
    there and is constant elsewhere: only a ranker that saw target k can use it on target k."""
    rng = np.random.default_rng(0)
    signals, accuracies = {}, {}
    for k in range(n_targets):
        acc = rng.uniform(0.5, 1.0, n_candidates)
        leak = np.zeros((n_candidates, n_targets))
        leak[:, k] = acc
        signals[f"t{k}"] = np.hstack([rng.normal(size=(n_candidates, 3)), leak])
        accuracies[f"t{k}"] = acc
    return signals, accuracies


@pytest.mark.parametrize("ranker", [PairwiseLogisticRanker, RidgeRanker])
def test_leave_one_target_out_cannot_use_the_planted_leak(ranker):
    signals, accuracies = _leaky_world()
    held_out = leave_one_target_out(ranker, signals, accuracies)
    tau_held_out = np.mean([kendalltau(held_out[t], accuracies[t])[0] for t in signals])
    seen_all = ranker().fit(list(signals.values()), list(accuracies.values()))
    tau_seen = np.mean([kendalltau(seen_all.score(signals[t]), accuracies[t])[0] for t in signals])
    assert tau_seen > 0.8  # the leak is usable by a model that saw the target: the check has teeth
    assert abs(tau_held_out) < 0.3


def test_leave_one_target_out_fits_on_every_other_target_and_only_those():
    seen: list[set[int]] = []

    class Recording:
        def fit(self, signals, accuracies):
            seen.append({int(s[0, 0]) for s in signals})
            return self

        def score(self, signals):
            return np.zeros(len(signals))

    signals = {f"t{k}": np.full((3, 1), float(k)) for k in range(4)}
    leave_one_target_out(Recording, signals, {t: np.arange(3.0) for t in signals})
    assert seen == [{1, 2, 3}, {0, 2, 3}, {0, 1, 3}, {0, 1, 2}]
    with pytest.raises(ValueError, match="same targets"):
        leave_one_target_out(Recording, signals, {"t0": np.arange(3.0)})


# ------------------------------------------------------------------------------------ dtw+logme on real data
@pytest.fixture
def zoo_candidates(shared_data: Path) -> list[str]:
    names = ["Coffee", "ECG200", "Wine", "TwoLeadECG", "Beef"]
    folders = [ZOO / n / "fcn" for n in names]
    if not (ZOO / "similarity" / "index.json").is_file() or not all((f / "config.json").is_file() for f in folders):
        pytest.skip(f"the repository zoo (checkpoints of {names} and similarity/) is not at {ZOO}")
    return [str(f) for f in folders]


def test_dtw_and_logme_is_the_mean_of_their_ranks_on_zoo_checkpoints(zoo_candidates: list[str]):
    index = ZOO / "similarity"
    combined = recommend("GunPoint", k=None, method="dtw+logme", candidates=zoo_candidates, index=index)
    by_dtw = recommend("GunPoint", k=None, method="dtw", candidates=zoo_candidates, index=index)
    by_logme = recommend("GunPoint", k=None, method="logme", candidates=zoo_candidates)
    assert combined.method == "dtw+logme" and len(combined) == len(zoo_candidates)
    logme_order = [r.id for r in by_logme.ranking]
    dtw_score = {r.id: r.score for r in by_dtw.ranking}
    expected = rank_mean(np.array([[dtw_score[i], -n] for n, i in enumerate(logme_order)]))
    assert {r.id: r.score for r in combined.ranking} == pytest.approx(dict(zip(logme_order, expected)))
    assert combined[0]["details"]["dtw_distance"] == pytest.approx(-dtw_score[combined[0].id])


def test_dtw_and_logme_orders_tied_mean_ranks_by_logme(zoo_candidates: list[str]):
    """On ArrowHead, ECG200/fcn and TwoLeadECG/fcn share a mean rank (each first of the two by one signal): the
    tie went to the id that sorts first; LogME, the stronger signal, orders it."""
    index = ZOO / "similarity"
    combined = recommend("ArrowHead", k=None, method="dtw+logme", candidates=zoo_candidates, index=index, cache=False)
    logme_order = recommend("ArrowHead", k=None, method="logme", candidates=zoo_candidates, cache=False).ids
    scores = [r.score for r in combined]
    assert len(set(scores)) < len(scores)  # the case: a tie
    for a, b in zip(combined.ranking, combined.ranking[1:]):
        if a.score == b.score:
            assert logme_order.index(a.id) < logme_order.index(b.id), (a.id, b.id)


def test_dtw_and_logme_without_an_index_falls_back_to_logme(zoo_candidates: list[str], tmp_path: Path):
    with pytest.warns(UserWarning, match="method 'dtw\\+logme' needs the similarity index"):
        rec = recommend("GunPoint", method="dtw+logme", candidates=zoo_candidates[:2], index=tmp_path / "none")
    assert rec.method == "logme" and "dtw+logme" in rec.note


# ------------------------------------------------------------------------------- the bench's matrix truth
def test_the_bench_reads_the_transfer_matrix_as_bench_transfer_matrix_writes_it(tmp_path: Path, monkeypatch):
    import tshub.experiments

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import rank_methods
    import transfer_matrix

    def record(kind: str, key: str, seed: int, accuracy: float, digest: str = "abc") -> dict:
        if kind == "finetune":
            who = {"source": key, "arch": "fcn", "spec": {"source_sha256": digest}, "referent_id": f"fcn-s{seed}"}
        else:
            who = {"arch": key, "run_id": f"{key}-s{seed}"}
        return {
            "target": "Coffee",
            "kind": kind,
            "seed": seed,
            "metrics": {"accuracy": accuracy},
            "elapsed_s": 720.0,
            **who,
        }

    records = [
        record("finetune", "Wine/fcn", 0, 0.9),
        record("finetune", "Wine/fcn", 1, 1.0),
        record("finetune", "Wine/fcn", 1, 0.2, digest="rebuilt"),  # another checkpoint than the draw's: left out
        record("finetune", "Beef/fcn", 0, 0.8),  # one seed only: not a finished source, left out
        record("referent", "fcn", 0, 0.7),
        record("referent", "fcn", 1, 0.8),
    ]
    monkeypatch.setattr(tshub.experiments, "load_records", lambda out: records)
    manifest = {
        "targets": {"Coffee": {"sources": ["Beef/fcn", "Ham/fcn", "Wine/fcn"], "minirocket": 0.99}},
        "zoo_weights_sha256": {"Wine/fcn": "abc", "Beef/fcn": "abc", "Ham/fcn": "cut short"},
        "waiting": {"Ham/fcn": "its training ended by 'time_budget'"},  # fine-tuned once converged: other weights
    }
    records += [record("finetune", "Ham/fcn", seed, 0.5, digest="converged") for seed in (0, 1)]
    transfer_matrix.table(manifest, tmp_path, tmp_path / "transfer_matrix")
    written = (tmp_path / "transfer_matrix.md").read_text()
    assert "In progress: 0 of 1 targets complete" in written  # Beef: 1 seed
    assert (
        "Not counted: 1 record fine-tuned from other weights than the draw froze: Coffee: Wine/fcn seed 1." in written
    )
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    truth, _, notes = rank_methods.load_truth("matrix", tmp_path / "transfer_matrix.json", tmp_path / "manifest.json")
    assert truth == {} and notes == ["Coffee: left out until complete (2 of 3 sources finished)"]  # not a random 2
    assert "## Overall" not in written  # headline figures of complete matrices only
    records.append(record("finetune", "Beef/fcn", 1, 0.6))
    transfer_matrix.table(manifest, tmp_path, tmp_path / "transfer_matrix")
    written = (tmp_path / "transfer_matrix.md").read_text()
    assert (
        "Means over the 1 targets: best 0.9500, median 0.7000, worst 0.5000, scratch 0.7500, minirocket 0.9900 "
        "(scratch: FCN's). 1 of the 3 (target, source) pairs (33%) beat their own architecture's scratch."
    ) in written
    assert "| best | 1/0/0 (p = 1.000) | 0/0/1 (p = 1.000) |" in written
    assert "9 run records in the folder (fine-tunes and referents, counted or not), 1.8 hours of training" in written
    truth, digests, notes = rank_methods.load_truth(
        "matrix", tmp_path / "transfer_matrix.json", tmp_path / "manifest.json"
    )
    coffee = truth["Coffee"]
    assert coffee.accuracy == pytest.approx({"Wine/fcn": 0.95, "Ham/fcn": 0.5, "Beef/fcn": 0.7}) and notes == []
    assert digests == {"Wine/fcn": "abc", "Beef/fcn": "abc", "Ham/fcn": "converged"}
    records.append(record("finetune", "Wine/fcn", 0, 0.9, digest="again"))  # frozen elsewhere: two checkpoints
    manifest["waiting"]["Wine/fcn"] = "cut short at the draw"
    with pytest.raises(SystemExit, match="Wine/fcn was fine-tuned from two checkpoints"):
        transfer_matrix.table(manifest, tmp_path, tmp_path / "transfer_matrix")
    assert coffee.scratch == pytest.approx(0.75) and coffee.minirocket == 0.99
    with pytest.raises(SystemExit, match="no transfer-matrix manifest"):
        rank_methods.load_truth("matrix", tmp_path / "transfer_matrix.json", tmp_path / "missing.json")


def test_a_source_rebuilt_since_the_matrix_fine_tuned_it_is_scored_on_the_weights_fine_tuned(
    tmp_path: Path, monkeypatch, earlier_weights
):
    """Regression: the bench left out every source whose checkpoint had been rebuilt since the matrix fine-tuned it
    (its signals would describe other weights), so a zoo rebuild during the matrix shrank its evaluation; the
    weights fine-tuned are now read from the git commit that held them."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import rank_methods

    root = Path(__file__).resolve().parents[1]
    older = earlier_weights("Car/fcn")["weights_sha256"]
    monkeypatch.setenv("TSHUB_REPO_ZOO", str(root / "zoo"))  # as the bench sees it (read only)
    coffee = json.loads((root / "zoo/Coffee/fcn/config.json").read_text())["weights_sha256"]
    digests = {"Car/fcn": older, "Coffee/fcn": coffee, "Beef/fcn": "weights no commit held"}
    folders, where = rank_methods.checkpoint_folders("matrix", "", tmp_path, digests)
    assert set(folders) == {"Car/fcn", "Coffee/fcn"}  # Beef/fcn: nowhere to be found, left out as before
    assert Path(folders["Coffee/fcn"]).resolve() == (root / "zoo/Coffee/fcn").resolve()
    rebuilt = Path(folders["Car/fcn"])
    assert rebuilt.is_relative_to(tmp_path) and "1 rebuilt since" in where and "Car/fcn" in where
    assert hashlib.sha256((rebuilt / "model.safetensors").read_bytes()).hexdigest() == older


def test_the_matrix_table_counts_a_tie_with_scratch_as_no_win(tmp_path: Path, monkeypatch):
    """Regression: "sources > their scratch" compared means of two seeds strictly, so 0.4 (0.3, 0.5) beat
    0.39999999999999997 (0.1, 0.7); it now counts as the evidence does (``advice_rules.beats``)."""
    import tshub.experiments

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import transfer_matrix

    tuned = {"source": "Wine/fcn", "arch": "fcn", "spec": {"source_sha256": "abc"}}
    records = [
        {
            "target": "Coffee",
            "kind": "finetune",
            "seed": s,
            "metrics": {"accuracy": a},
            "elapsed_s": 1.0,
            "referent_id": f"fcn-s{s}",
            **tuned,
        }
        for s, a in ((0, 0.3), (1, 0.5))
    ] + [
        {
            "target": "Coffee",
            "kind": "referent",
            "seed": s,
            "metrics": {"accuracy": a},
            "elapsed_s": 1.0,
            "arch": "fcn",
            "run_id": f"fcn-s{s}",
        }
        for s, a in ((0, 0.1), (1, 0.7))
    ]
    monkeypatch.setattr(tshub.experiments, "load_records", lambda out: records)
    manifest = {
        "targets": {"Coffee": {"sources": ["Wine/fcn"], "minirocket": 0.99}},
        "zoo_weights_sha256": {"Wine/fcn": "abc"},
        "waiting": {},
    }
    transfer_matrix.table(manifest, tmp_path, tmp_path / "transfer_matrix")
    row = next(
        line for line in (tmp_path / "transfer_matrix.md").read_text().splitlines() if line.startswith("| Coffee")
    )
    assert row.endswith("| 0.400 | 0.990 | 0 |"), row


def test_a_drawn_pair_found_to_be_self_transfer_is_left_out_of_the_table_and_the_truth(tmp_path: Path, monkeypatch):
    """DistalPhalanxOutlineAgeGroup/fcn was drawn for DistalPhalanxTW (the Phalanges sets share their series; the
    draw's near-copy check missed it) and ran: the table names it and counts the target complete without it."""
    import tshub.experiments

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import rank_methods
    import transfer_matrix

    def record(source: str, seed: int, accuracy: float) -> dict:
        return {
            "target": "Coffee",
            "kind": "finetune",
            "seed": seed,
            "metrics": {"accuracy": accuracy},
            "elapsed_s": 1.0,
            "referent_id": f"fcn-s{seed}",
            "source": source,
            "arch": "fcn",
            "spec": {"source_sha256": source},
        }

    scratch = [
        {
            "target": "Coffee",
            "kind": "referent",
            "seed": s,
            "metrics": {"accuracy": 0.5},
            "elapsed_s": 1.0,
            "arch": "fcn",
            "run_id": f"fcn-s{s}",
        }
        for s in (0, 1)
    ]
    records = [record("Wine/fcn", s, 0.6) for s in (0, 1)] + [record("Copy/fcn", 0, 1.0)] + scratch
    monkeypatch.setattr(tshub.experiments, "load_records", lambda out: records)
    manifest = {
        "targets": {"Coffee": {"sources": ["Copy/fcn", "Wine/fcn"], "minirocket": 0.99}},
        "zoo_weights_sha256": {"Wine/fcn": "Wine/fcn", "Copy/fcn": "Copy/fcn"},
    }
    (tmp_path / "self_transfer.json").write_text(json.dumps({"Coffee": {"Copy/fcn": "100% of the series equal"}}))
    transfer_matrix.table(manifest, tmp_path, tmp_path / "transfer_matrix")
    written = (tmp_path / "transfer_matrix.md").read_text()
    assert "| Coffee | 1/1 | 0.600 |" in written and "In progress" not in written  # Copy/fcn's 1.0 counts nowhere
    assert "Left out as self-transfer" in written and "Copy/fcn on Coffee (100% of the series equal)" in written
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    truth, _, notes = rank_methods.load_truth("matrix", tmp_path / "transfer_matrix.json", tmp_path / "manifest.json")
    assert truth["Coffee"].accuracy == {"Wine/fcn": 0.6} and notes == []


def test_the_matrix_never_fine_tunes_from_a_checkpoint_still_converging(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    private_zoo: Callable[..., Path],
    shared_data: Path,  # run_matrix loads each target (Coffee) before it plans the grid
):
    """A drawn source whose training was cut short stays in the frozen draw but is skipped, saying so, until the
    build converges it; the 24 targets spread evenly over the eligible list."""
    import tshub.experiments

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import transfer_matrix

    private_zoo([ZOO / "Wine" / "fcn"], {"Beef/fcn": (ZOO / "Beef" / "fcn", {"stop_reason": "time_budget"})})
    grids = []
    monkeypatch.setattr(tshub.experiments, "run", lambda grid, **kwargs: grids.append(grid))
    manifest = {
        "targets": {"Coffee": {"sources": ["Beef/fcn", "Wine/fcn"], "minirocket": 0.99}},
        "zoo_weights_sha256": transfer_matrix.current_digests(),
    }
    transfer_matrix.run_matrix(manifest, tmp_path / "out", "local", None)
    assert [grid.sources for grid in grids] == [["Wine/fcn"]]
    assert "Coffee: Beef/fcn skipped until the zoo build converges it (its training ended by 'time_budget'" in (
        capsys.readouterr().out
    )

    names = [f"S{i:02d}" for i in range(64)]
    picked = transfer_matrix.select_targets(dict.fromkeys(names, 0.5), {n: (100, "100") for n in names})
    assert len(picked) == 24 and picked[:3] == ["S00", "S02", "S05"] and picked[-1] == "S61"


def test_the_matrix_never_fine_tunes_from_other_weights_than_the_draw_froze(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    private_zoo: Callable[..., Path],
    shared_data: Path,  # run_matrix loads each target (Coffee) before it plans the grid
):
    """A drawn source rebuilt after the draw is skipped, saying which weights it has and which were frozen; one that
    was still converging when the draw was frozen ("waiting") runs from its converged weights."""
    import tshub.experiments

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import transfer_matrix

    private_zoo([ZOO / "Wine" / "fcn", ZOO / "Beef" / "fcn", ZOO / "Ham" / "fcn"])
    digests = transfer_matrix.current_digests()
    grids = []
    monkeypatch.setattr(tshub.experiments, "run", lambda grid, **kwargs: grids.append(grid))
    frozen = {**digests, "Beef/fcn": "0" * 64, "Ham/fcn": "1" * 64}  # both changed since the draw
    manifest = {
        "targets": {"Coffee": {"sources": ["Beef/fcn", "Ham/fcn", "Wine/fcn"], "minirocket": 0.99}},
        "zoo_weights_sha256": frozen,
        "waiting": {"Ham/fcn": "its training ended by 'time_budget'"},
    }
    transfer_matrix.run_matrix(manifest, tmp_path / "out", "local", None)
    assert [grid.sources for grid in grids] == [["Ham/fcn", "Wine/fcn"]]
    out = capsys.readouterr().out
    assert f"Coffee: Beef/fcn skipped: its weights (sha256 {digests['Beef/fcn']}) are not those the draw froze" in out


def test_the_draw_waits_for_the_zoo_build_and_is_never_made_by_run_or_table(tmp_path: Path, monkeypatch):
    """--plan refuses while single-dataset entries of the build are missing or stale in the zoo (it would freeze
    digests about to change), naming them; --run and --table need the frozen manifest and never draw one."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import transfer_matrix

    monkeypatch.setattr(transfer_matrix, "unfinished_builds", lambda zoo: {"Car/fcn": "stale", "Rock/fcn": "missing"})
    with pytest.raises(SystemExit, match=r"2 single-dataset entries to build: Car/fcn \(stale\), Rock/fcn \(missing\)"):
        transfer_matrix.plan(tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()
    with pytest.raises(SystemExit, match="freeze the draw first"):
        transfer_matrix.frozen_plan(tmp_path / "out")


def test_the_build_status_the_draw_waits_for_is_the_zoo_builds_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
):
    """``unfinished_builds`` judges each entry as build_zoo.py does: an empty zoo has every single-dataset entry
    missing and no multi-head one (the protocol lets UCR/convtimenet still train)."""
    repo = Path(__file__).resolve().parents[1]
    monkeypatch.syspath_prepend(str(repo / "bench"))
    monkeypatch.syspath_prepend(str(repo / "scripts" / "publish"))
    import transfer_matrix
    from zoo_manifest import default_manifest

    entries = default_manifest()
    unfinished = transfer_matrix.unfinished_builds(tmp_path)
    assert unfinished == {e.id: "missing" for e in entries if not e.multihead}
    assert "UCR/convtimenet" in {e.id for e in entries} and "UCR/convtimenet" not in unfinished


def test_the_matrix_table_reads_the_records_its_runs_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_zoo: Callable[..., Path], shared_data: Path
):
    """Real runs (one epoch each, not the protocol's recipe) through run_matrix and table: each fine-tune counts,
    with the digest of the weights it started from, and the scratch referent beside it."""
    from tshub.training.recipes import RECIPES

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import transfer_matrix

    private_zoo([ZOO / "Wine" / "fcn"])
    monkeypatch.setattr(transfer_matrix, "RECIPE", RECIPES["ucr"].replace(max_epochs=1))
    digests = transfer_matrix.current_digests()
    manifest = {"targets": {"Coffee": {"sources": ["Wine/fcn"], "minirocket": 1.0}}, "zoo_weights_sha256": digests}
    transfer_matrix.run_matrix(manifest, tmp_path / "out", "local", None)
    transfer_matrix.table(manifest, tmp_path / "out", tmp_path / "transfer_matrix")
    source, referents = json.loads((tmp_path / "transfer_matrix.json").read_text())
    assert source["source"] == "Wine/fcn" and source["source_sha256"] == digests["Wine/fcn"]
    assert sorted(source["seeds"]) == ["0", "1"] and source["mean"] is not None  # JSON keys
    assert set(referents["scratch"]) == {"fcn"} and referents["minirocket"] == 1.0


def test_each_fine_tune_of_the_matrix_is_compared_with_its_own_referent(tmp_path: Path, monkeypatch):
    """Regression: two sources of one architecture with other settings (EMG/tcn with stream_max, SP500/tcn
    without) have two from-scratch referents per seed; the table kept one per architecture, whichever it read
    last, so a fine-tune could be compared with another training's scratch."""
    import tshub.experiments

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import transfer_matrix

    def tuned(source: str, seed: int, accuracy: float, referent: str) -> dict:
        return {
            "target": "GunPoint",
            "kind": "finetune",
            "source": source,
            "arch": source.split("/")[1],
            "seed": seed,
            "metrics": {"accuracy": accuracy},
            "elapsed_s": 1.0,
            "referent_id": f"{referent}-s{seed}",
            "spec": {"source_sha256": "abc"},
        }

    def scratch(run_id: str, arch: str, seed: int, accuracy: float) -> dict:
        who = {"run_id": f"{run_id}-s{seed}", "arch": arch, "seed": seed}
        return {"target": "GunPoint", "kind": "referent", **who, "metrics": {"accuracy": accuracy}, "elapsed_s": 1.0}

    records = [
        *(tuned("EMG/tcn", seed, 0.9, "tcn-with-stream-max") for seed in (0, 1)),
        *(tuned("SP500/tcn", seed, 0.9, "tcn-plain") for seed in (0, 1)),
        *(tuned(f"{name}/fcn", seed, 0.8, "fcn-znorm") for name in ("Beef", "Coffee") for seed in (0, 1)),
        *(tuned("SP500/fcn", seed, 0.8, "fcn-minmax") for seed in (0, 1)),
        *(scratch("tcn-with-stream-max", "tcn", seed, 0.95) for seed in (0, 1)),
        *(scratch("tcn-plain", "tcn", seed, 0.85) for seed in (0, 1)),
        *(scratch("fcn-znorm", "fcn", seed, 0.7) for seed in (0, 1)),
        *(scratch("fcn-minmax", "fcn", seed, 0.9) for seed in (0, 1)),
    ]
    monkeypatch.setattr(tshub.experiments, "load_records", lambda out: records)
    sources = ["Beef/fcn", "Coffee/fcn", "EMG/tcn", "SP500/fcn", "SP500/tcn"]
    manifest = {
        "targets": {"GunPoint": {"sources": sources, "minirocket": 0.99}},
        "zoo_weights_sha256": dict.fromkeys(sources, "abc"),
        "waiting": {},
    }
    transfer_matrix.table(manifest, tmp_path, tmp_path / "transfer_matrix")
    rows = json.loads((tmp_path / "transfer_matrix.json").read_text())
    own = {r["source"]: r["scratch"] for r in rows if "source" in r}
    assert own == pytest.approx(
        {"Beef/fcn": 0.7, "Coffee/fcn": 0.7, "EMG/tcn": 0.95, "SP500/fcn": 0.9, "SP500/tcn": 0.85}
    )
    # the target's scratch per architecture: the referent most of its sources of that architecture share
    assert rows[-1]["scratch"]["fcn"] == pytest.approx(0.7)
    assert (
        "| GunPoint | 5/5 | 0.900 | 0.800 | 0.800 | 0.700 | 0.990 | 3 |"
        in (tmp_path / "transfer_matrix.md").read_text()
    )


def test_the_matrix_runs_the_targets_with_the_least_work_left_first(tmp_path: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import transfer_matrix

    manifest = {"targets": {name: {"sources": ["A/fcn", "B/fcn", "C/fcn"]} for name in ("Adiac", "Beef", "Coffee")}}
    values = {"Adiac": 68_640, "Beef": 14_100, "Coffee": 8_008}  # 8 runs each: 2 seeds × (3 sources + scratch)
    assert transfer_matrix.work_order(manifest, list(values), values, {}) == ["Coffee", "Beef", "Adiac"]
    # Adiac half done (4 × 68,640 left) still outweighs a fresh Beef (8 × 14,100); one run left, it goes before Beef
    assert transfer_matrix.work_order(manifest, list(values), values, {"Adiac": 4}) == ["Coffee", "Beef", "Adiac"]
    assert transfer_matrix.work_order(manifest, list(values), values, {"Adiac": 7}) == ["Coffee", "Adiac", "Beef"]
    assert transfer_matrix.work_order(manifest, ["Beef", "Adiac"], values, {"Beef": 8}) == ["Beef", "Adiac"]
    assert transfer_matrix.recorded_runs(tmp_path) == {}


# ----------------------------------------------------------------------------------- the bench's report
@pytest.fixture
def rank_methods(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import rank_methods

    return rank_methods


def _signal_world(rank_methods, seed: int, n_targets: int = 6, n_candidates: int = 8) -> tuple[dict, dict]:
    """Targets whose accuracies follow dtw + source_quality plus noise, every bench signal random: the learned
    rankers compete with the signals."""
    rng = np.random.default_rng(seed)
    names = (*rank_methods.SIGNALS, *rank_methods.SHIPPED, *rank_methods.TARGET_STATISTICS)
    truth, signals = {}, {}
    for k in range(n_targets):
        rows = {f"S{i}/fcn": {**{n: float(rng.normal()) for n in names}, "arch": "fcn"} for i in range(n_candidates)}
        accuracy = {c: 0.5 + 0.05 * (s["dtw"] + s["source_quality"] + rng.normal()) for c, s in rows.items()}
        truth[f"t{k}"], signals[f"t{k}"] = TargetTruth(f"t{k}", accuracy, scratch=0.5), rows
    return truth, signals


def _report(rank_methods, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, truth: dict, signals: dict) -> dict:
    """The bench's report on a given truth and signals (no checkpoint, no signal computed)."""
    candidates = {c: c for table in truth.values() for c in table.accuracy}
    monkeypatch.setattr(rank_methods, "load_truth", lambda *a: (truth, {}, []))
    monkeypatch.setattr(rank_methods, "checkpoint_folders", lambda *a: (candidates, "given"))
    monkeypatch.setattr(rank_methods, "all_signals", lambda *a: signals)
    rank_methods.main(["--truth", "matrix", "--work", str(tmp_path), "--out", str(tmp_path / "report")])
    return json.loads((tmp_path / "report.json").read_text())


def test_signals_only_caches_every_complete_targets_signals_and_scores_nothing(
    rank_methods, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """``--signals-only`` readies the signals while the matrix still runs (they need no fine-tune) and stops
    there: no method is scored and no report written before the protocol's complete matrix."""
    truth, signals = _signal_world(rank_methods, seed=3)
    computed = []
    monkeypatch.setattr(rank_methods, "load_truth", lambda *a: (truth, {}, []))
    monkeypatch.setattr(rank_methods, "checkpoint_folders", lambda *a: ({c: c for c in signals["t0"]}, "given"))
    monkeypatch.setattr(rank_methods, "all_signals", lambda targets, *a: computed.append(sorted(targets)) or signals)
    monkeypatch.setattr(rank_methods, "method_scores", lambda *a: pytest.fail("a method was scored"))
    out = tmp_path / "report"
    assert rank_methods.main(["--truth", "matrix", "--signals-only", "--work", str(tmp_path), "--out", str(out)]) == 0
    assert computed == [sorted(truth)]
    assert not out.with_suffix(".json").exists() and not out.with_suffix(".md").exists()


def test_the_verdict_names_a_method_and_says_what_the_intervals_show(rank_methods):
    """Referents are not methods (MiniRocket beats the best candidate here), and the intervals are read, not
    assumed: one method never misses, yet 2 targets make no significant sign test."""
    truth = TargetTruth("T", {"A": 0.9, "B": 0.8, "C": 0.7}, scratch=0.6, minirocket=0.95)
    outcomes = {t: {**baselines(truth), "m": judge({"A": 1.0}, truth)} for t in ("t1", "t2")}
    text = rank_methods.verdict(summarise(outcomes))
    assert "Lowest mean regret: m (0.0000, the random pick's 0.1000)" in text
    assert "gain over the random pick (paired by target) lies wholly above 0: m." in text


def test_the_report_counts_every_method_the_correction_counts(rank_methods, monkeypatch, tmp_path: Path):
    report = _report(rank_methods, monkeypatch, tmp_path, *_signal_world(rank_methods, 0))
    corrected = [m for m, row in report["summary"].items() if "bky" in row.get("vs_random", {})]
    assert rank_methods.CHOSEN in corrected and report["protocol"]["n_methods"] == len(corrected)
    assert f"over the {len(corrected)} methods" in (tmp_path / "report.md").read_text()


def test_the_method_chosen_for_a_target_never_depends_on_its_accuracies(rank_methods, monkeypatch, tmp_path: Path):
    """ "best of the others" chooses on the other targets, where a learned ranker's regret comes from a fit that
    must not have seen the held-out target either: new accuracies on it cannot change what is chosen for it."""
    truth, signals = _signal_world(rank_methods, 1)
    chosen = {
        t: o[rank_methods.CHOSEN]["chosen"]
        for t, o in _report(rank_methods, monkeypatch, tmp_path, truth, signals)["targets"].items()
    }
    rng = np.random.default_rng(2)
    for target in truth:
        moved = {**truth, target: TargetTruth(target, {c: rng.uniform(0.3, 0.9) for c in truth[target].accuracy})}
        report = _report(rank_methods, monkeypatch, tmp_path, moved, signals)
        assert report["targets"][target][rank_methods.CHOSEN]["chosen"] == chosen[target], target


def test_the_matrix_table_refuses_two_records_of_one_target_source_and_seed(tmp_path: Path, monkeypatch):
    """Regression: two records of one (target, source, seed), e.g. trained with two recipes when a target resumed at
    another commit, were both read and the one sorting last overwrote the other: seeds of two settings averaged."""
    import tshub.experiments

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import transfer_matrix

    def finetune(run_id: str, seed: int, accuracy: float) -> dict:
        return {"run_id": run_id, "target": "Coffee", "kind": "finetune", "seed": seed, "source": "Wine/fcn",
                "arch": "fcn", "spec": {"source_sha256": "abc"}, "referent_id": f"fcn-s{seed}",
                "metrics": {"accuracy": accuracy}, "elapsed_s": 1.0}  # fmt: skip

    records = [finetune("finetune-Wine-s0-old", 0, 0.95), finetune("finetune-Wine-s1", 1, 0.9)]
    records.append(finetune("finetune-Wine-s0-new", 0, 0.1))
    monkeypatch.setattr(tshub.experiments, "load_records", lambda out: records)
    manifest = {
        "targets": {"Coffee": {"sources": ["Wine/fcn"], "minirocket": 0.99}},
        "zoo_weights_sha256": {"Wine/fcn": "abc"},
    }
    with pytest.raises(
        SystemExit, match=r"Coffee: Wine/fcn seed 0 has two records \(finetune-Wine-s0-old, finetune-Wine-s0-new\)"
    ):
        transfer_matrix.table(manifest, tmp_path, tmp_path / "transfer_matrix")


def test_the_matrix_table_of_an_empty_manifest_has_no_overall_figures(tmp_path: Path, monkeypatch):
    """Regression (review): a manifest with no targets counted as complete, and the overall figures divided by its
    zero pairs."""
    import tshub.experiments

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import transfer_matrix

    monkeypatch.setattr(tshub.experiments, "load_records", lambda out: [])
    transfer_matrix.table({"targets": {}, "zoo_weights_sha256": {}, "waiting": {}}, tmp_path, tmp_path / "matrix")
    assert "## Overall" not in (tmp_path / "matrix.md").read_text()
