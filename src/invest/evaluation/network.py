"""The network as a predictor: train it on the fold (or take the given checkpoint), predict with intervals."""

from __future__ import annotations

from invest.evaluation import MODEL
from invest.evaluation.predictors import Fold, Prediction, register
from invest.evaluation.uncertainty import calibrate_model, predict_with_uncertainty
from invest.modelling.checkpoint import LoadedModel, assemble
from invest.modelling.training import fit


@register(MODEL)
def network(fold: Fold) -> Prediction:
    """Intervals are calibrated on the fold's validation block, embargoed from both the training
    rows and the test rows (a given checkpoint brings its own calibration)."""
    params = fold.params
    if fold.loaded is None:
        trained, _ = fit(fold.prepared, params, fold.device)
        loaded = LoadedModel.from_checkpoint(core_checkpoint(fold, trained), trained.cpu())
        calibration = calibrate_model(
            loaded, fold.arrays.subset(fold.val), params.interval_levels, params.mc_samples, params.seed
        )
    else:
        loaded, calibration = fold.loaded, fold.loaded.checkpoint["intervals"]
    scored = predict_with_uncertainty(loaded, fold.arrays.subset(fold.test_rows), calibration, params.mc_samples, params.seed)
    extra = scored.drop(columns=["date", "prediction"]).reset_index(drop=True)
    return Prediction(scored["prediction"].to_numpy(), extra)


def core_checkpoint(fold: Fold, trained) -> dict:
    prepared, params = fold.prepared, fold.params
    return assemble(
        trained,
        prepared.scaler,
        prepared.split,
        fold.panel.temporal_features,
        fold.panel.static_features,
        int(fold.panel.meta["schema_version"]),
        params.horizon,
        params.target,
        params.seq_len,
    )
