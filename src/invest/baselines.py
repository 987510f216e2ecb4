"""Simple baselines scored on exactly the model's rows: each is fit on the training block only.

Every baseline sees the same scaled inputs as the network. Tabular models get the
static vector, the last monthly step and the mean of the sequence.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


def tabular(past: np.ndarray, static: np.ndarray) -> np.ndarray:
    """[N, S + 2F]: static features, the last step and the sequence mean."""
    return np.concatenate([static, past[:, -1, :], past.mean(axis=1)], axis=1)


def fit_predict_all(
    past: np.ndarray,
    static: np.ndarray,
    target: np.ndarray,
    momentum: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    seed: int,
) -> dict[str, np.ndarray]:
    """Predictions of every baseline for all rows; ``train``/``val`` are boolean row masks."""
    y = target[train]
    out = {
        "zero": np.zeros(len(target)),
        "historical_mean": np.full(len(target), float(np.mean(y))),
        "momentum": _univariate(momentum, target, train),
    }
    features = tabular(past, static)
    out["ridge"] = _ridge(features, target, train, val)
    booster = HistGradientBoostingRegressor(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=100,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )
    booster.fit(features[train], y)
    out["gbt"] = booster.predict(features)
    return out


def _univariate(signal: np.ndarray, target: np.ndarray, train: np.ndarray) -> np.ndarray:
    """OLS of the target on one signal (missing signal -> its training mean)."""
    filled = np.where(np.isfinite(signal), signal, np.nanmean(signal[train]))
    slope, intercept = np.polyfit(filled[train], target[train], 1)
    return intercept + slope * filled


def _ridge(features: np.ndarray, target: np.ndarray, train: np.ndarray, val: np.ndarray) -> np.ndarray:
    """Ridge with its penalty chosen on the validation block."""
    best_alpha, best_error = RIDGE_ALPHAS[0], np.inf
    for alpha in RIDGE_ALPHAS:
        model = Ridge(alpha=alpha).fit(features[train], target[train])
        error = float(np.mean(np.abs(model.predict(features[val]) - target[val])))
        if error < best_error:
            best_alpha, best_error = alpha, error
    return Ridge(alpha=best_alpha).fit(features[train], target[train]).predict(features)
