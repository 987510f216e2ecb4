"""Simple baselines, scored on exactly the network's rows; each is fit on the fold's training block.

Every baseline sees the same scaled inputs as the network. Tabular models get the static
vector, the last monthly step and the mean of the sequence. Adding a baseline: one function
here, decorated with ``@register("name")``, returning predictions for every row of the fold.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

from invest.data.features import MOMENTUM
from invest.evaluation.predictors import Fold, Prediction, register

RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


def tabular(past: np.ndarray, static: np.ndarray) -> np.ndarray:
    """[N, S + 2F]: static features, the last step and the sequence mean."""
    return np.concatenate([static, past[:, -1, :], past.mean(axis=1)], axis=1)


def _on_test_rows(fold: Fold, values: np.ndarray) -> Prediction:
    return Prediction(values[fold.test_rows])


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
    """OLS of the label on the 12-1 month return (a missing signal -> its training mean)."""
    signal, target, train = fold.last_step(MOMENTUM), fold.target, fold.train
    filled = np.where(np.isfinite(signal), signal, np.nanmean(signal[train]))
    slope, intercept = np.polyfit(filled[train], target[train], 1)
    return _on_test_rows(fold, intercept + slope * filled)


@register("ridge")
def ridge(fold: Fold) -> Prediction:
    """Ridge on the tabular inputs, its penalty chosen by MAE on the validation block."""
    features, target, train, val = tabular(fold.prepared.past, fold.prepared.static), fold.target, fold.train, fold.val
    best_alpha, best_error = RIDGE_ALPHAS[0], np.inf
    for alpha in RIDGE_ALPHAS:
        model = Ridge(alpha=alpha).fit(features[train], target[train])
        error = float(np.mean(np.abs(model.predict(features[val]) - target[val])))
        if error < best_error:
            best_alpha, best_error = alpha, error
    return _on_test_rows(fold, Ridge(alpha=best_alpha).fit(features[train], target[train]).predict(features))


@register("gbt")
def gbt(fold: Fold) -> Prediction:
    """Gradient-boosted trees (scikit-learn's histogram booster) on the tabular inputs."""
    features, train = tabular(fold.prepared.past, fold.prepared.static), fold.train
    booster = HistGradientBoostingRegressor(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=100,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=fold.params.seed,
    )
    booster.fit(features[train], fold.target[train])
    return _on_test_rows(fold, booster.predict(features))
