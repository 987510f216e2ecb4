"""The network as a predictor: the fold's ensemble (trained and scored by the walk-forward jobs, else
here) or the given checkpoint, predicting with intervals and confidence."""

from __future__ import annotations

from invest.evaluation import MODEL
from invest.evaluation.predictors import Fold, Prediction, register
from invest.modelling.checkpoint import LoadedModel
from invest.modelling.ensemble import Trained, checkpoint_core, train_and_score
from invest.modelling.inference import combine
from invest.modelling.model import ModelConfig
from invest.modelling.uncertainty import calibration_of, expected_market, predict_with_uncertainty, uncertainty_frame


@register(MODEL)
def network(fold: Fold) -> Prediction:
    """Intervals are calibrated on the fold's validation block, embargoed from both the training
    rows and the test rows (a given checkpoint brings its own calibration)."""
    params = fold.params
    if fold.loaded is not None:
        loaded, calibration = fold.loaded, fold.loaded.checkpoint["intervals"]
        scored = predict_with_uncertainty(loaded, fold.arrays, calibration, params.mc_samples, params.seed, fold.test_rows)
    else:
        trained = fold.trained or train_and_score(fold.prepared, params, list(range(params.ensemble_size)), fold.scored_rows)
        scored = _scored(fold, trained)
    extra = scored.drop(columns=["date", "prediction"]).reset_index(drop=True)
    return Prediction(scored["prediction"].to_numpy(), extra)


def _scored(fold: Fold, trained: Trained):
    """Calibrate the jobs' ensemble on the validation rows, then frame its test predictions with intervals."""
    params, prepared = fold.params, fold.prepared
    networks = trained.networks(prepared_config(fold))
    val_positions = fold.val[trained.rows]
    test_positions = fold.test_rows[trained.rows]
    scores = None
    if params.label_transform != "none" or params.point_map == "median":
        points = trained.points[val_positions]
        scores = sum(prepared.scaler.unscale_target(points[:, m]) for m in range(points.shape[1])) / points.shape[1]
    core = checkpoint_core(
        networks, prepared, fold.temporal_features, fold.static_features, fold.schema_version, params, val_scores=scores
    )
    loaded = LoadedModel.from_checkpoint(core, networks)
    variances = trained.variances

    def outputs(positions):
        return combine(trained.points[positions], None if variances is None else variances[positions], loaded)

    offset = expected_market(fold.arrays.subset(fold.train), params.target)
    calibration = calibration_of(
        outputs(val_positions), fold.arrays.subset(fold.val), params.interval_levels, params.mc_samples, offset
    )
    return uncertainty_frame(outputs(test_positions), loaded, fold.arrays.subset(fold.test_rows), calibration)


def prepared_config(fold: Fold) -> dict:
    """The network's shape for this fold's inputs (the scaler appends the step mask to the temporal features)."""
    return ModelConfig.from_params(fold.params, fold.arrays.past.shape[-1] + 1, fold.arrays.static.shape[-1]).to_dict()
