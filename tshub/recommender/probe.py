"""``probe``: a short fine-tune of each candidate on the target's training split, scored on a validation split
carved from it; the most direct method and by far the costliest."""

from __future__ import annotations

import time
from collections.abc import Iterator

from tshub.recommender.candidates import Candidate
from tshub.recommender.methods import Context, Scored, each_candidate, failure_reason, register
from tshub.training.finetuning import finetune


@register("probe", "validation accuracy (regression: −MAE) after a short fine-tune, higher is better")
def rank_by_probe(pool: list[Candidate], ctx: Context) -> Iterator[Scored]:
    train_only = ctx.target.with_splits({"train": ctx.target.splits["train"]})  # val is carved from train
    n_val = None
    for done, candidate in enumerate(each_candidate(pool, ctx, "probe")):
        start = time.perf_counter()
        try:
            model = candidate.load()
            left = None if ctx.deadline is None else max(0.0, ctx.deadline - time.monotonic())
            result = finetune(
                model,
                train_only,
                lr_multiplier=1.0,
                max_epochs=ctx.probe_epochs,
                time_budget_s=left,  # the rest of the ranking's time: one fine-tune cannot overrun it
                seed=0,
                device=ctx.device,
                progress=False,
            )
        except (ValueError, RuntimeError, OSError) as err:
            yield Scored(candidate, None, failure_reason(err))
            continue
        ctx.check_time(done, len(pool))  # a fine-tune the deadline cut short compares with none of the others
        kept = result.history[(result.best_epoch or len(result.history)) - 1]
        val_loss = float(kept.get("val_loss", float("inf")))
        n_val = result.model.meta["splits"]["val"]
        score = result.val_metrics["accuracy"] if ctx.target.task == "classification" else -result.val_metrics["mae"]
        yield Scored(
            candidate,
            score,
            {
                **result.val_metrics,
                "val_loss": val_loss,
                "epochs": len(result.history),
                "seconds": time.perf_counter() - start,
            },
            tie_break=val_loss,
        )
    if n_val is not None:  # how finely the scores can tell candidates apart: few series, many ties
        ctx.notes.append(
            f"probe: each candidate scored on the {n_val} validation series carved from the "
            f"{len(train_only.splits['train'])} training series"
            + (f" (one series moves an accuracy by {1 / n_val:.2g})" if ctx.target.task == "classification" else "")
        )
