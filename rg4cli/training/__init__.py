"""`rg4 train`: the engine (accelerate loop), token-level loss weighting, the frozen-encoder
cache, the generator's data and tasks, the classifier tasks and validation.

Library entry: `run_train(TrainSettings(train_file=..., output=...), log=print)` trains (or,
with task="import", imports a released checkpoint) in one call and returns the summary
`rg4 train` prints; an unset recipe option takes its preset's value (docs/design.md "Presets").
"""

from rg4cli.training.settings import TASKS, TrainSettings, run_train

__all__ = ["TASKS", "TrainSettings", "run_train"]
