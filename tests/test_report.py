"""The report's first paragraph states every ranking baseline, won or not, and the intervals' coverage."""

from __future__ import annotations

import pandas as pd

from invest import params as params_module
from invest.evaluation.report import headline
from invest.evaluation.scoring import Evaluation


def evaluation_of(**margins: tuple[float, ...]) -> Evaluation:
    """Margins per baseline: rank IC (diff, lo, hi), then optionally MAE and portfolio triples."""
    frame = pd.DataFrame({"date": pd.to_datetime(["2020-01-31", "2020-02-29"]), "model": [0.1, 0.2]})
    scores = pd.DataFrame(
        {"rank_ic": [0.2], "rank_ic_std": 0.1, "icir": 2.0, "rank_ic_t_nw": [5.0], "mae": 0.3, "rmse": 0.4,
         "hit_rate": [0.58], "quintile_spread": 0.1, "calibration_slope": 1.0},
        index=["model"],
    )  # fmt: skip
    table = pd.DataFrame.from_dict({name: _margin_row(values) for name, values in margins.items()}, orient="index")
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


def _margin_row(values: tuple[float, ...]) -> dict[str, float]:
    nan = float("nan")
    values = values + (nan,) * (9 - len(values))
    keys = [f"{key}{end}" for key in ("rank_ic", "mae", "portfolio") for end in ("", "_lo", "_hi")]
    return dict(zip(keys, values, strict=True))


def test_a_baseline_the_model_does_not_beat_is_said_so():
    text = headline(
        evaluation_of(
            momentum=(0.2, 0.1, 0.3, -0.01, -0.02, -0.005),
            ridge=(0.02, -0.01, 0.06, 0.003, -0.001, 0.007),
            gbt=(-0.05, -0.08, -0.02),
        ),
        params_module.from_dict({}),
    )
    lines = text.splitlines()
    momentum = next(line for line in lines if line.startswith("- **momentum**"))
    assert "rank IC: the model better (the model − momentum = +0.200, 95% interval +0.100 to +0.300; significant)" in momentum
    assert "MAE: the model better (the model − momentum = -0.0100, 95% interval -0.0200 to -0.0050; significant)" in momentum
    ridge = next(line for line in lines if line.startswith("- **ridge**"))
    assert "rank IC: no significant difference (the model − ridge = +0.020, 95% interval -0.010 to +0.060)" in ridge
    assert "MAE: no significant difference (the model − ridge = +0.0030" in ridge
    gbt = next(line for line in lines if line.startswith("- **gbt**"))
    assert "rank IC: gbt better (the model − gbt = -0.050, 95% interval -0.080 to -0.020; significant)" in gbt
    assert "MAE: no verdict" in gbt
    assert "top-book" not in text  # no portfolio backtest in this evaluation: no verdict on it
    assert "81.0% at a nominal 80%" in text and "raw MC dropout: 10.0%" in text


def test_the_portfolio_verdict_joins_when_there_is_a_backtest():
    evaluation = evaluation_of(ridge=(0.02, -0.01, 0.06, 0.003, -0.001, 0.007, 0.031, 0.004, 0.06), zero=())
    evaluation.portfolio = {}
    text = headline(evaluation, params_module.from_dict({}))
    assert (
        "top-book net return a year: the model better (the model − ridge = +3.1%, 95% interval +0.4% to +6.0%; significant)"
        in text
    )
    zero = next(line for line in text.splitlines() if line.startswith("- **zero**"))
    assert "rank IC" not in zero and "top-book" not in zero and "no ranking to compare" in zero


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


def test_a_book_that_lost_everything_is_named_in_the_portfolio_section():
    from invest.evaluation import report
    from invest.evaluation.portfolio import PortfolioSettings, run_backtest

    months = pd.to_datetime(["2020-01-31", "2020-02-29"]).repeat(2)
    frame = pd.DataFrame(
        {"date": months, "ticker": ["A", "B"] * 2, "model": [0.3, 0.1] * 2,
         "fwd_ret_1m": [-0.6, 0.6, 0.1, 0.0], "market_ret_1m": 0.0}
    )  # fmt: skip
    evaluation = evaluation_of()
    evaluation.portfolio = {
        "model": run_backtest(frame, "model", PortfolioSettings(long_short_quantile=0.5, bootstrap_samples=10))
    }
    text = "\n".join(report._portfolio_section(evaluation, params_module.from_dict({})))
    assert "lost all their capital in one month and stayed at −100% (see docs/portfolio.md): model (long-short)." in text
