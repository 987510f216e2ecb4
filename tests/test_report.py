"""The report's first paragraph states every ranking baseline, won or not, and the intervals' coverage."""

from __future__ import annotations

import pandas as pd

from invest import params as params_module
from invest.evaluation.report import headline
from invest.evaluation.scoring import Evaluation


def evaluation_of(**margins: tuple[float, float, float]) -> Evaluation:
    frame = pd.DataFrame({"date": pd.to_datetime(["2020-01-31", "2020-02-29"]), "model": [0.1, 0.2]})
    scores = pd.DataFrame(
        {"rank_ic": [0.2], "rank_ic_std": 0.1, "icir": 2.0, "rank_ic_t_nw": [5.0], "mae": 0.3, "rmse": 0.4,
         "hit_rate": [0.58], "quintile_spread": 0.1, "calibration_slope": 1.0},
        index=["model"],
    )  # fmt: skip
    table = pd.DataFrame.from_dict(
        {name: {"rank_ic": d, "rank_ic_lo": lo, "rank_ic_hi": hi} for name, (d, lo, hi) in margins.items()}, orient="index"
    )
    coverage = pd.DataFrame(
        [("calibrated", 0.8, "pooled", "all", 0.81, 0.3, 100), ("mc_dropout", 0.8, "pooled", "all", 0.1, 0.05, 100)],
        columns=["kind", "level", "group", "bucket", "coverage", "width", "n"],
    )
    return Evaluation(
        frame=frame,
        predictors=["model", *margins],
        baselines=list(margins),
        scores=scores,
        base_rates={"base_rate": 0.48, "best_constant_hit_rate": 0.52, "pred_positive_share": 0.5},
        margins=table,
        by_year=pd.DataFrame(),
        coverage=coverage,
        confidence=None,
    )


def test_a_baseline_the_model_does_not_beat_is_said_so():
    text = headline(
        evaluation_of(momentum=(0.2, 0.1, 0.3), ridge=(0.02, -0.01, 0.06), gbt=(-0.05, -0.08, -0.02)),
        params_module.from_dict({}),
    )
    assert "beats momentum by 0.200 rank IC" in text
    assert "is not distinguishable from ridge (rank IC margin 0.020, interval -0.010 to 0.060)" in text
    assert "loses to gbt by 0.050 rank IC" in text
    assert "81.0% at a nominal 80%" in text and "raw MC dropout: 10.0%" in text


def test_real_data_without_an_oracle_never_mentions_one(tmp_path):
    from invest.evaluation import report

    evaluation = evaluation_of(momentum=(0.2, 0.1, 0.3))
    params = params_module.from_dict({})
    text = headline(evaluation, params) + "\n".join(report._scores_section(evaluation))
    assert "oracle" not in text.lower()
    with_oracle = evaluation_of(momentum=(0.2, 0.1, 0.3))
    with_oracle.predictors.append("oracle")
    with_oracle.scores.loc["oracle", "rank_ic"] = 0.25
    assert "The oracle reaches 0.250" in headline(with_oracle, params)
