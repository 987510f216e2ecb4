"""The network as a predictor: the fold's ensemble (trained by the walk-forward jobs, else here) or
the given checkpoint, predicting with intervals and confidence."""

from __future__ import annotations

from invest.evaluation import MODEL
from invest.evaluation.predictors import Fold, Prediction, register
from invest.modelling.checkpoint import LoadedModel
from invest.modelling.ensemble import checkpoint_core, fit_members
from invest.modelling.uncertainty import calibrate_model, expected_market, predict_with_uncertainty


@register(MODEL)
def network(fold: Fold) -> Prediction:
    """Intervals are calibrated on the fold's validation block, embargoed from both the training
    rows and the test rows (a given checkpoint brings its own calibration)."""
    params = fold.params
    if fold.loaded is None:
        members = fold.members if fold.members is not None else fit_members(fold.prepared, params, fold.device)[0]
        core = checkpoint_core(members, fold.prepared, fold.temporal_features, fold.static_features, fold.schema_version, params)
        loaded = LoadedModel.from_checkpoint(core, members)
        offset = expected_market(fold.arrays.subset(fold.train), params.target)
        validation = fold.arrays.subset(fold.val)
        calibration = calibrate_model(loaded, validation, params.interval_levels, params.mc_samples, params.seed, offset)
    else:
        loaded, calibration = fold.loaded, fold.loaded.checkpoint["intervals"]
    scored = predict_with_uncertainty(loaded, fold.arrays.subset(fold.test_rows), calibration, params.mc_samples, params.seed)
    extra = scored.drop(columns=["date", "prediction"]).reset_index(drop=True)
    return Prediction(scored["prediction"].to_numpy(), extra)
