"""Evaluation layer: predictors, metrics, uncertainty, portfolio, report."""

MODEL = "model"  # the network's column in every predictions frame and table
ORACLE = "oracle"  # the simulator's planted expected return (not a predictor), scored beside them when present
