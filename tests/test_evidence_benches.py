"""The evidence benchmarks of issue 10 (bench/finetune_vs_scratch.py, bench/recommender.py): sources only from the
zoo and converged unless asked, MiniRocket beside every accuracy, and tables rendered from the stored records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tshub.hub.store import unconverged_reason
from tshub.recommender.advice import minirocket_references
from tshub.stats import win_tie_loss

REPO_ZOO = Path(__file__).resolve().parents[1] / "zoo"
BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def benches(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCH))
    import finetune_vs_scratch
    import recommender

    return finetune_vs_scratch, recommender


def zoo_of(root: Path, stop_reasons: dict[str, str | None]) -> Path:
    """A store of the repository zoo's FCN configs (no weights: nothing here loads them), each with the given
    ``meta.stop_reason`` (None: not recorded)."""
    for source, reason in stop_reasons.items():
        original = REPO_ZOO / source / "fcn" / "config.json"
        if not original.is_file():
            pytest.skip(f"the repository zoo's {source}/fcn is absent ({original})")
        config = json.loads(original.read_text())
        config["meta"].pop("stop_reason", None)
        if reason is not None:
            config["meta"]["stop_reason"] = reason
        folder = root / source / "fcn"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(config))
    return root


def test_only_a_training_run_to_its_recipes_end_counts_as_converged() -> None:
    for reason in ("early_stopping", "max_epochs"):
        assert unconverged_reason({"meta": {"stop_reason": reason}}) is None
    assert "time budget, not converged" in unconverged_reason({"meta": {"stop_reason": "time_budget"}})
    assert "diverged" in unconverged_reason({"meta": {"stop_reason": "non_finite_loss"}})
    assert "no stop reason" in unconverged_reason({"meta": {}})


def test_wins_ties_and_losses_count_ties_within_the_tolerance() -> None:
    outcome = win_tie_loss([0.9, 0.79452, 0.5, 1.0], [0.8, 0.7945, 0.6, 1.0], tolerance=0.5e-4)
    assert (outcome.wins, outcome.ties, outcome.losses) == (1, 2, 1) and outcome.pvalue == 1.0
    with pytest.raises(ValueError, match="equal length"):
        win_tie_loss([0.9], [0.8, 0.7])


# ---------------------------------------------------------------------------------------------------- finetune_vs_scratch
class Trained(Exception):
    """Raised by the stand-in for tshub.experiments.run: the bench got as far as training."""


def test_the_finetune_bench_never_trains_a_source_nor_fine_tunes_an_unconverged_one(
    shared_data: Path, benches: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Coffee's source (Strawberry, same UCR Type, most training series) stopped on the time budget and GunPoint's
    (UWaveGestureLibraryX) is in no store: both pairs are refused, nothing trains and no result is written. CBF's
    (TwoPatterns) converged: it runs, fine-tuning the zoo checkpoint itself, with no time budget."""
    bench, _ = benches
    zoo = zoo_of(tmp_path / "zoo", {"Strawberry": "time_budget", "TwoPatterns": "early_stopping"})
    monkeypatch.setenv("TSHUB_REPO_ZOO", str(zoo))
    grids = []

    def run(grid: Any, out_dir: Path) -> list:
        grids.append(grid)
        raise Trained

    monkeypatch.setattr(bench, "run", run)
    results = tmp_path / "results" / "fvs.md"
    common = ["--out", str(tmp_path / "runs"), "--results", str(results)]
    assert bench.main(["--targets", "Coffee", "GunPoint", *common]) == 1
    assert grids == [] and not results.parent.exists()
    err = capsys.readouterr().err
    assert "Coffee: source Strawberry/fcn" in err and "time budget, not converged" in err
    assert "the zoo build must finish it first" in err and "GunPoint: no checkpoint UWaveGestureLibraryX/fcn" in err
    assert "results not written: 2 of 2 pairs wait for the zoo build" in err

    with pytest.raises(Trained):
        bench.main(["--targets", "CBF", *common])
    assert list(grids[0].sources) == ["TwoPatterns/fcn"] and grids[0].time_budget_s is None
    with pytest.raises(Trained):
        bench.main(["--targets", "Coffee", "--allow-unconverged", *common])
    assert list(grids[1].sources) == ["Strawberry/fcn"]


def run_records(target: str, transfer: list[float], scratch: list[float]) -> list[dict[str, Any]]:
    """Run records as tshub.experiments writes them (the fields comparison_table reads), one pair per seed."""
    records = []
    for seed, (t, s) in enumerate(zip(transfer, scratch)):
        common = {"target": target, "arch": "fcn", "seed": seed, "task": "classification", "val_loss": 0.1}
        referent = f"referent-{target}-{seed}"
        records += [
            {**common, "run_id": referent, "kind": "referent", "metrics": {"accuracy": s}, "val_metrics": {}},
            {
                **common,
                "run_id": f"finetune-{target}-{seed}",
                "kind": "finetune",
                "source": "S/fcn",
                "referent_id": referent,
                "lr_multiplier": 1.0,
                "metrics": {"accuracy": t},
                "val_metrics": {"accuracy": 1.0},
                "convergence_rate": 0.5,
            },
        ]
    return records


def test_the_finetune_tables_carry_minirocket_and_render_again_from_their_json(benches: Any, tmp_path: Path) -> None:
    """Per target: fine-tuned and scratch means beside MiniRocket's reference ('–' where the table has none), and
    their W/T/L against it, a difference within the reference's rounding a tie; --table-only renders the same
    tables from the JSON without training."""
    bench, _ = benches
    references = minirocket_references()
    assert references["Coffee"] == 1.0 and references["Lightning7"] == 0.7945 and "DodgerLoopWeekend" not in references
    records = (
        run_records("Coffee", [1.0, 1.0, 1.0], [1.0, 0.9643, 1.0])  # MiniRocket 1.0: a tie, then a loss
        + run_records("Lightning7", [58 / 73] * 3, [0.7, 0.7, 0.7])  # 0.794521 against 0.7945: a tie, then a loss
        + run_records("ArrowHead", [0.9, 0.9, 0.9], [0.6, 0.6, 0.6])  # MiniRocket 0.8629: a win, then a loss
        + run_records("DodgerLoopWeekend", [0.9, 0.9, 0.9], [0.8, 0.8, 0.8])  # no reference
    )
    pairs = [
        bench.Pair(target, "S/fcn", tmp_path, "ab" * 32, "converged", None)
        for target in ("Coffee", "Lightning7", "ArrowHead", "DodgerLoopWeekend")
    ]
    protocol = {
        "command": "python bench/finetune_vs_scratch.py",
        "seeds": [0, 1, 2],
        "lr_multiplier": 1.0,
        "recipe": "ucr",
        "source_rule": "rule",
        "sources": "zoo checkpoints",
        "minirocket": "aeon",
    }
    path = tmp_path / "fvs.md"
    text = bench.write_results(bench.report_of(records, pairs, protocol), path)
    report = json.loads(path.with_suffix(".json").read_text())
    assert {r["target"]: r["minirocket"] for r in report["pairs"]} == {
        "ArrowHead": 0.8629,
        "Coffee": 1.0,
        "DodgerLoopWeekend": None,
        "Lightning7": 0.7945,
    }
    versus = report["vs_minirocket"]
    assert [versus["fine-tuned"][k] for k in ("targets", "wins", "ties", "losses")] == [3, 1, 2, 0]
    assert [versus["scratch"][k] for k in ("targets", "wins", "ties", "losses")] == [3, 0, 0, 3]
    assert versus["scratch"]["sign_p"] == pytest.approx(0.25)
    assert "| fine-tuned | 3 | 0.8982 | 0.8858 | 1/2/0 | 1 |" in text
    assert "| scratch | 3 | 0.7627 | 0.8858 | 0/0/3 | 0.25 |" in text
    assert "| S/fcn | converged | abababababab | DodgerLoopWeekend | 3 | 0.9 | 0.8 | – |" in text
    assert "| 4 | 0.8986 | 0.772 | +16.40 | 4/0/0 | 0.125 | 0.125 |" in text  # targets, not target × seed

    path.with_suffix(".md").unlink()
    assert bench.main(["--table-only", "--results", str(path)]) == 0
    assert path.with_suffix(".md").read_text() == text
    assert json.loads(path.with_suffix(".json").read_text()) == report


def test_the_finetune_bench_tests_fine_tuned_against_scratch_with_targets_as_units(
    benches: Any, tmp_path: Path
) -> None:
    """The seeds of one target share its data, source and test set, so they are no independent pairs: the sign and
    Wilcoxon tests of fine-tuned against scratch count targets (means over seeds), not target × seed pairs."""
    bench, _ = benches
    records = run_records("ArrowHead", [0.9, 0.9, 0.9], [0.8, 0.8, 0.8]) + run_records(
        "Coffee", [0.7, 0.7, 0.7], [0.75, 0.75, 0.75]
    )
    pairs = [bench.Pair(t, "S/fcn", tmp_path, "ab" * 32, "converged", None) for t in ("ArrowHead", "Coffee")]
    protocol = {"command": "c", "seeds": [0, 1, 2], "lr_multiplier": 1.0, "recipe": "ucr", "source_rule": "r"}
    report = bench.with_target_tests(bench.report_of(records, pairs, {**protocol, "sources": "s", "minirocket": "m"}))
    text = bench.markdown(report)
    row = report["vs_scratch"]
    assert [row[k] for k in ("n", "wins", "ties", "losses", "sign_p", "wilcoxon_p")] == [2, 1, 0, 1, 1.0, 1.0]
    assert "| 2 | 0.8 | 0.775 | +3.23 | 1/0/1 | 1 | 1 |" in text
    assert "3/0/3" not in text


# ---------------------------------------------------------------------------------------------------- recommender
def test_the_recommender_pool_leaves_out_unconverged_and_unusable_checkpoints(
    benches: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bench = benches
    zoo = zoo_of(tmp_path / "zoo", {"Strawberry": "time_budget", "TwoPatterns": "early_stopping", "Crop": None})
    diverged = json.loads((zoo / "Crop" / "fcn" / "config.json").read_text())
    diverged["meta"]["stop_reason"] = "non_finite_loss"
    (zoo / "Coffee" / "fcn").mkdir(parents=True)
    (zoo / "Coffee" / "fcn" / "config.json").write_text(json.dumps({**diverged, "id": "Coffee/fcn"}))
    monkeypatch.setenv("TSHUB_REPO_ZOO", str(zoo))
    pool, left_out = bench.zoo_pool("fcn", allow_unconverged=False)
    assert [c.id for c in pool] == ["TwoPatterns/fcn"]
    assert "time budget, not converged" in left_out["Strawberry/fcn"] and "no stop reason" in left_out["Crop/fcn"]
    assert left_out["Coffee/fcn"].startswith("not a usable source: its training diverged")
    pool, left_out = bench.zoo_pool("fcn", allow_unconverged=True)
    assert sorted(c.id for c in pool) == ["Crop/fcn", "Strawberry/fcn", "TwoPatterns/fcn"] and list(left_out) == [
        "Coffee/fcn"
    ]
    assert [c.id for c in bench.target_pool("Strawberry", pool)] == ["Crop/fcn", "TwoPatterns/fcn"]


def test_the_recommender_scores_only_fine_tunes_of_the_current_weights(benches: Any) -> None:
    """A run cache that still holds the fine-tunes of a checkpoint the zoo build has since replaced (same id, other
    weights) must not mix them into that candidate's accuracy. (Failed before: every record of the id counted, so
    a rerun on the converged zoo averaged old and new fine-tunes.)"""
    _, bench = benches
    from tshub.experiments import ExperimentGrid

    grid = ExperimentGrid(sources=["A/fcn"], targets=["Coffee"], lr_multipliers=[1.0], seeds=[0], recipe="ucr")
    training = grid.training()

    def record(kind: str, source: str | None, sha: str | None) -> dict[str, Any]:
        spec = {"training": training, "source_sha256": sha}
        return {"target": "Coffee", "seed": 0, "kind": kind, "source": source, "lr_multiplier": 1.0, "spec": spec}

    old, new, scratch = (
        record("finetune", "A/fcn", "old"),
        record("finetune", "A/fcn", "new"),
        record("referent", None, None),
    )
    other = record("finetune", "B/fcn", "b")
    kept = bench.target_records([old, new, scratch, other], "Coffee", {"A/fcn": "new"}, grid, [0])
    assert kept == [new, scratch]


def test_the_recommender_tables_carry_minirocket_and_render_again_from_their_json(benches: Any, tmp_path: Path) -> None:
    """MiniRocket per target (its accuracy, regret and rank among the candidates), and per method the W/T/L of the
    pick against it over the targets that have a reference; a JSON of the format before the bench judged through
    tshub.recommender.evaluation (the committed one) renders again, its ground truth kept."""
    _, bench = benches

    def target(name: str, accuracy: dict[str, float], pick: str, scratch: float) -> dict[str, Any]:
        best = max(accuracy.values())
        return {
            "target": name,
            "pool": 3,
            "n_candidates": len(accuracy),
            "missing": [],
            "best": best,
            "best_sources": [c for c, a in accuracy.items() if a == best],
            "accuracy": accuracy,
            "seed_spread": 0.01,
            "compute_s": 60.0,
            "random": {"accuracy": sum(accuracy.values()) / 2, "regret": 0.0, "rank": 1.5},
            "scratch": {"accuracy": scratch, "regret": best - scratch, "rank": 1},
            "methods": {
                "logme": {
                    "pick": pick,
                    "accuracy": accuracy[pick],
                    "regret": best - accuracy[pick],
                    "rank": 1.0 if accuracy[pick] == best else 2.0,
                    "spearman": None,
                    "seconds": 1.0,
                }
            },
        }

    targets = [
        target("ArrowHead", {"A/fcn": 0.9, "B/fcn": 0.8}, "A/fcn", 0.7),  # MiniRocket 0.8629: pick wins
        target("Coffee", {"A/fcn": 1.0, "B/fcn": 0.95}, "A/fcn", 0.9),  # MiniRocket 1.0: tie
        target("UMD", {"A/fcn": 0.99, "B/fcn": 0.98}, "B/fcn", 0.97),  # no reference
    ]
    protocol = {
        "command": "python bench/recommender.py",
        "targets": ["ArrowHead", "Coffee", "UMD"],
        "rule": "given by --targets",
        "arch": "fcn",
        "top": 3,
        "candidates": 2,
        "seeds": [0, 1],
        "max_epochs": 300,
        "recipe": "ucr",
        "stores": ["zoo"],
        "device": "cpu",
        "elapsed_s": 60.0,
        "allow_unconverged": False,
        "left_out": {"C/fcn": "its training ended by 'time_budget' (time budget, not converged)"},
    }
    out = tmp_path / "recommender"
    out.with_suffix(".json").write_text(json.dumps({"protocol": protocol, "summary": {}, "targets": targets}))
    assert bench.main(["--table-only", "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["targets"][0]["minirocket"] == pytest.approx({"accuracy": 0.8629, "regret": 0.0371, "rank": 2})
    assert report["targets"][1]["minirocket"] == {"accuracy": 1.0, "regret": 0.0, "rank": 1}
    assert "minirocket" not in report["targets"][2]
    for kept, given in zip(report["targets"], targets):
        for key in ("target", "pool", "n_candidates", "missing", "accuracy", "seed_spread", "compute_s"):
            assert kept[key] == given[key]
        assert kept["scratch"]["accuracy"] == given["scratch"]["accuracy"]
        assert kept["oracle"]["accuracy"] == given["best"] and "best" not in kept
        method, stored = kept["methods"]["logme"], given["methods"]["logme"]
        assert {k: method[k] for k in stored} == stored and method["kendall"] is None
    assert bench.main(["--table-only", "--out", str(out)]) == 0  # the rewritten JSON renders the same
    assert json.loads(out.with_suffix(".json").read_text()) == report
    summary = report["summary"]
    assert summary["logme"]["vs_minirocket"] == {"wtl": [1, 1, 0], "p": 1.0}
    assert summary["scratch"]["vs_minirocket"]["wtl"] == [0, 0, 2] and summary["minirocket"]["targets"] == 2
    assert summary["logme"]["accuracy"] == pytest.approx((0.9 + 1.0 + 0.98) / 3)
    text = out.with_suffix(".md").read_text()
    assert "| logme | 3 | 0.9600 |" in text and "| 1/1/0, p = 1.000 | 1 |" in text
    assert (
        "| ArrowHead | 3 | 2 | A/fcn: 0.900 | 0.700 | 0.863 |" in text
        and "| UMD | 3 | 2 | A/fcn: 0.990 | 0.970 | - |" in text
    )
    assert "1 checkpoints whose training did not run its recipe to its end and 0 that learned nothing" in text


def test_a_ranking_cached_for_other_weights_is_computed_again(
    benches: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rankings cache is keyed by the pool's weights: once the zoo build replaces a checkpoint, the ranking
    of its old weights is not reused. (Failed before: it was keyed by the ids alone.)"""
    _, bench = benches
    from argparse import Namespace

    from tshub.recommender import Candidate

    pool = [Candidate("A/fcn", "A", "fcn", str(tmp_path)), Candidate("B/fcn", "B", "fcn", str(tmp_path))]
    args = Namespace(probe_epochs=5, index=None, quiet=True)
    cached = {"settings": {"pool": {"A/fcn": "a1", "B/fcn": "b1"}, "probe_epochs": None}, "recommendation": {}}
    (tmp_path / "rankings").mkdir()
    (tmp_path / "rankings" / "Coffee__logme.json").write_text(json.dumps(cached))

    def recommend(*_: Any, **__: Any) -> None:
        raise Trained

    monkeypatch.setattr(bench, "recommend", recommend)
    assert bench.rank_pool("Coffee", pool, {"A/fcn": "a1", "B/fcn": "b1"}, "logme", tmp_path, args) == cached
    with pytest.raises(Trained):
        bench.rank_pool("Coffee", pool, {"A/fcn": "a2", "B/fcn": "b1"}, "logme", tmp_path, args)


def test_the_recommender_judges_each_pick_through_the_library(benches: Any, tmp_path: Path) -> None:
    """A method's top score tied between two candidates is worth their mean (tshub.recommender.evaluation.judge), a
    first choice without a finished fine-tune is not its pick, and the baselines come from the same module."""
    _, bench = benches

    def finetune(source: str, seed: int, accuracy: float) -> dict[str, Any]:
        return {"kind": "finetune", "source": source, "seed": seed, "metrics": {"accuracy": accuracy}, "elapsed_s": 1}

    referent = {"preprocessing": "znorm", "use_stream_max": False}
    records = [
        *(finetune("A/fcn", s, 0.9) for s in (0, 1)),
        *(finetune("B/fcn", s, a) for s, a in ((0, 0.7), (1, 0.8))),
        *(finetune("C/fcn", s, 1.0) for s in (0, 1)),
        finetune("D/fcn", 0, 1.0),  # its second seed failed
        *({"kind": "referent", "spec": referent, "metrics": {"accuracy": 0.8}, "elapsed_s": 1} for _ in (0, 1)),
    ]

    def ranking(*scores: tuple[str, float]) -> dict[str, Any]:
        return {"recommendation": {"elapsed_s": 2.0, "ranking": [{"id": c, "score": s} for c, s in scores]}}

    rankings = {
        "logme": ranking(("B/fcn", 1.0), ("A/fcn", 1.0), ("C/fcn", 0.0)),
        "dtw": ranking(("D/fcn", 9.0), ("C/fcn", 5.0), ("A/fcn", 1.0), ("B/fcn", 0.0)),
    }
    result = bench.evaluate_target("Coffee", 5, ["A/fcn", "B/fcn", "C/fcn", "D/fcn"], rankings, records, 2)
    assert result["missing"] == ["D/fcn"] and result["n_candidates"] == 3 and result["compute_s"] == 13.0
    logme, dtw = result["methods"]["logme"], result["methods"]["dtw"]
    assert logme["pick"] == "B/fcn" and logme["accuracy"] == pytest.approx(0.825) and logme["rank"] == 2.5
    assert logme["regret"] == pytest.approx(0.175) and not logme["top1"] and logme["seconds"] == 2.0
    assert dtw["pick"] == "C/fcn" and dtw["top1"] and dtw["spearman"] == 1.0
    judged = bench.with_baselines(result)  # Coffee's MiniRocket reference is 1.0: tied with C
    assert judged["minirocket"]["rank"] == 1.0 and judged["scratch"] == pytest.approx(
        {"accuracy": 0.8, "regret": 0.2, "rank": 3.0}
    )
    assert judged["methods"] == {"dtw": dtw, "logme": logme} and list(judged["methods"]) == ["dtw", "logme"]


def test_the_validation_split_bench_decides_on_development_sets_only_and_trains_on_every_series_when_full(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """bench/ucr_full_train.py never touches the 85 UCR 2015 sets (the 76 the zoo is judged on are among them), and
    its "full" variant trains on every training series where "split" holds a fifth out."""
    monkeypatch.syspath_prepend(str(BENCH))
    import ucr_full_train

    from tshub.data.catalogue import load
    from tshub.data.splits import ensure_validation

    names = ucr_full_train.development_datasets()
    ucr2015 = {line.split()[1] for line in ucr_full_train.UCR2015.read_text().splitlines() if line[:1] in "Tt-"}
    assert len(ucr2015) == 85 and names and not set(names) & ucr2015
    fixed = tmp_path / "sources.json"  # --kind finetune: the sources, once written, are the protocol's
    fixed.write_text(json.dumps({"rule": "fixed before the runs", "sources": {"BME": "Coffee/fcn"}}))
    monkeypatch.setattr(ucr_full_train, "recommend", lambda *a, **k: pytest.fail("the sources were recomputed"))
    assert ucr_full_train.first_picks(names, fixed) == {"BME": "Coffee/fcn"}
    large = ucr_full_train.development_datasets("large")  # the larger sets' rule: same question, more series
    assert large and not set(large) & (ucr2015 | set(names))
    for name in large:
        ds = load(name)
        assert len(ds.splits["train"]) > ucr_full_train.MAX_TRAIN and ds.length <= ucr_full_train.MAX_LENGTH, name
    ds = load("BME")
    split, full = (ensure_validation(ucr_full_train.with_variant(ds, v)) for v in ucr_full_train.VARIANTS)
    assert len(split.splits["train"]) == 24 and len(split.splits["val"]) == 6
    assert list(full.splits["train"]) == list(full.splits["val"]) == list(ds.splits["train"])
