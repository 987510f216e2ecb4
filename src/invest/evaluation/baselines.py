"""Simple baselines, scored on exactly the network's rows; each is fit on the fold's training block
and makes its choices (ridge's penalty, the boosted trees' settings) on the fold's validation block,
by the same criterion as the network's epochs (``train.select_by``): a weak baseline flatters the model.

Every baseline sees the same scaled inputs as the network. Tabular models get the static vector,
the last monthly step and the mean of the sequence (``Fold.tabular``). Adding a baseline: one
function here, decorated with ``@register("name")``, returning predictions for the fold's test rows.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

from invest.data.features import MOMENTUM
from invest.evaluation.predictors import Fold, Prediction, register
from invest.modelling.ranking import mean_rank_ic

RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)
# (leaves per tree, learning rate, rows per leaf, trees): from small and slow to large and fast
GBT_GRID = ((7, 0.05, 200, 200), (15, 0.05, 100, 200), (31, 0.05, 50, 200), (15, 0.1, 100, 100))


def _on_test_rows(fold: Fold, values: np.ndarray) -> Prediction:
    return Prediction(values[fold.test_rows])


def validation_score(fold: Fold, prediction: np.ndarray) -> float:
    """Higher is better: validation rank IC, or minus validation MAE (``train.select_by``); ``prediction``
    holds the validation rows' predictions, in order."""
    val = fold.val
    if fold.params.select_by == "rank_ic":
        score = mean_rank_ic(prediction, fold.target[val], fold.arrays.dates[val])
        return score if np.isfinite(score) else -np.inf
    return -float(np.mean(np.abs(prediction - fold.target[val])))


def _best_on_test_rows(fold: Fold, features: np.ndarray, fitted: list) -> Prediction:
    """The fitted model best on the validation rows, predicting the test rows (each model predicts only those)."""
    best = max(fitted, key=lambda model: validation_score(fold, model.predict(features[fold.val])))
    return Prediction(best.predict(features[fold.test_rows]))


def _momentum_signal(fold: Fold) -> np.ndarray:
    signal = fold.last_step(MOMENTUM)
    return np.where(np.isfinite(signal), signal, np.nanmean(signal[fold.train]))  # missing -> its training mean


@register("zero")
def zero(fold: Fold) -> Prediction:
    """Predicts no (excess) return: the base line for MAE."""
    return _on_test_rows(fold, np.zeros(len(fold.target)))


@register("historical_mean")
def historical_mean(fold: Fold) -> Prediction:
    """The training rows' mean label for every row."""
    return _on_test_rows(fold, np.full(len(fold.target), float(np.mean(fold.target[fold.train]))))


@register("momentum")
def momentum(fold: Fold) -> Prediction:
    """OLS of the label on the 12-1 month return: its sign and scale fitted on the training rows."""
    signal, target, train = _momentum_signal(fold), fold.target, fold.train
    slope, intercept = np.polyfit(signal[train], target[train], 1)
    return _on_test_rows(fold, intercept + slope * signal)


@register("momentum_raw")
def momentum_raw(fold: Fold) -> Prediction:
    """The 12-1 month return itself, nothing fitted: the classic momentum ranking (its MAE means little)."""
    return _on_test_rows(fold, _momentum_signal(fold))


@register("ridge")
def ridge(fold: Fold) -> Prediction:
    """Ridge on the tabular inputs, its penalty chosen on the validation block."""
    features, target, train = fold.tabular, fold.target, fold.train
    fitted = [Ridge(alpha=alpha).fit(features[train], target[train]) for alpha in RIDGE_ALPHAS]
    return _best_on_test_rows(fold, features, fitted)


@register("gbt")
def gbt(fold: Fold) -> Prediction:
    """Gradient-boosted trees (scikit-learn's histogram booster) on the tabular inputs, settings chosen on the validation block."""
    features, target, train = fold.tabular, fold.target, fold.train
    fitted = []
    for leaves, rate, per_leaf, trees in GBT_GRID:
        booster = HistGradientBoostingRegressor(
            max_iter=trees,
            learning_rate=rate,
            max_leaf_nodes=leaves,
            min_samples_leaf=per_leaf,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=fold.params.seed,
        )
        fitted.append(booster.fit(features[train], target[train]))
    return _best_on_test_rows(fold, features, fitted)
