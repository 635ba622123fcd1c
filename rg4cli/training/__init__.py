"""`rg4 train`: the engine (accelerate loop), token-level loss weighting, the frozen-encoder
cache, the generator's data and tasks, the classifier tasks and validation."""
