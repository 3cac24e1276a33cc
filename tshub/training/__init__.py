"""Training: one loop for pretraining, from-scratch referents and fine-tunes; weight transfer; metrics; recipes."""

from tshub.training.finetuning import LR_MULTIPLIER_GRID, finetune, train_from_scratch, train_referent
from tshub.training.loop import fit
from tshub.training.metrics import convergence_rate
from tshub.training.recipes import RECIPES, TrainConfig
from tshub.training.results import FitResult
from tshub.training.transfer import TransferReport, transfer_weights

__all__ = [
    "train_from_scratch",
    "train_referent",
    "finetune",
    "fit",
    "FitResult",
    "TrainConfig",
    "RECIPES",
    "LR_MULTIPLIER_GRID",
    "TransferReport",
    "transfer_weights",
    "convergence_rate",
]
