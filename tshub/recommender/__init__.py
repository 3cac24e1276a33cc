"""``tshub.recommend``: rank source checkpoints for a target dataset, by one of several methods.

A recommender is judged by the fine-tuned result of its first pick (``bench/recommender.py`` measures it). The
methods, all scored on the target's training split only:

- ``logme`` (default: the lowest mean regret and no pick worse than 0.08 below the best candidate in
  bench/results/recommender.md, and it scores any checkpoint, indexed or not; no method measured since beats it
  significantly, bench/results/rank_methods.md): LogME of each candidate's frozen
  features, the candidate adapted to the target as fine-tuning adapts it (``transferability``);
- ``hscore``: the regularised H-score of the same features (classification targets);
- ``probe``: a short fine-tune of each candidate (``probe_epochs``, ω = 1) on the training split, scored by
  accuracy (ties: loss) or −MAE on a validation split carved from it; the most direct and by far the costliest;
- ``dtw``: bigdata18's dataset similarity (min DTW between per-class DBA prototypes) from the saved
  ``SimilarityIndex``; it ranks source *datasets*, so every architecture of a source gets the same score. Without
  an index it falls back to the default method and says so in ``Recommendation.note``;
- ``dtw+logme``: the mean of each candidate's ranks by ``dtw`` and by ``logme`` (``combined``): a lower mean
  regret than ``logme`` in bench/results/rank_methods.md (0.016 vs 0.018 on the complete zoo, 0.012 vs 0.015 on the
  zoo before it, over 10 targets), but not significantly better than ``logme`` (4 wins, 4 ties, 2 losses; sign test
  p = 0.69) nor than a random pick, so not the default.

``logme`` and ``hscore`` run as a cascade on a bounded sample (``ScoringPlan``, default ``"fast"``: seconds on any
UCR-sized target; ``plan="full"`` scores every candidate on every training series), in bfloat16, with features
cached by content (``cache``). Every method leaves out, under ``skipped``, a candidate trained on the target's own
data (a fine-tune of it would be no transfer): its training series' fingerprint overlaps the target's series, or
its source dataset (or one of a multi-head checkpoint's) has the target's name. ``allow_self_transfer=True`` ranks
them too.

Every recommendation carries ``advice`` (``TransferAdvice``): whether fine-tuning its first pick is expected to beat
training from scratch and MiniRocket on the target, with the benchmark evidence it rests on (``advice``).

Modules: ``api`` (the call), ``results`` (what it returns), ``candidates`` (the pool, self-transfer), ``methods``
(the registry), ``feature_methods``/``probe``/``dtw``/``combined`` (the methods), ``transferability`` (LogME,
H-score), ``sampling`` (the plan), ``cache`` (features on disk), ``plot`` (prototype figure), ``ranker`` (rank means
and rankers learned across targets, leave-one-target-out), ``evaluation`` (judging a method against fine-tuned
ground truth: regret, rank, sign tests), which bench/rank_methods.py uses, ``advice`` (when not to transfer) and
``advice_rules`` (its rules, fitted leave-one-target-out).
"""

from tshub.recommender import combined, dtw, feature_methods, probe  # noqa: F401  (importing registers the methods)
from tshub.recommender.advice import TransferAdvice, Verdict
from tshub.recommender.api import load_target, recommend
from tshub.recommender.candidates import HUB_ONLY, SELF_TRANSFER, Candidate, candidate_pool, self_transfer
from tshub.recommender.errors import RecommendError, RecommendTimeout
from tshub.recommender.methods import DEFAULT_METHOD, METHODS, list_methods
from tshub.recommender.plot import plot_prototypes
from tshub.recommender.results import RankedSource, Recommendation, SkippedSource
from tshub.recommender.sampling import FAST, FULL, ScoringPlan

__all__ = [
    "recommend",
    "Recommendation",
    "RankedSource",
    "SkippedSource",
    "TransferAdvice",
    "Verdict",
    "RecommendError",
    "RecommendTimeout",
    "ScoringPlan",
    "FAST",
    "FULL",
    "Candidate",
    "candidate_pool",
    "self_transfer",
    "SELF_TRANSFER",
    "HUB_ONLY",
    "DEFAULT_METHOD",
    "METHODS",
    "list_methods",
    "load_target",
    "plot_prototypes",
]
