"""Tests for invest.evaluation.portfolio: a hand-computed book, sanity against an oracle and shuffles, costs, edge rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from invest.errors import ConfigError, DataError
from invest.evaluation.portfolio import (
    PortfolioSettings,
    compare_predictors,
    flatten,
    rebalance_schedule,
    run_backtest,
)

SMALL = PortfolioSettings(bootstrap_samples=50)


def rows(table: dict[str, list]) -> pd.DataFrame:
    """A long frame from columns; dates given as 'YYYY-MM-DD' strings."""
    frame = pd.DataFrame(table)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def hand_frame() -> pd.DataFrame:
    """Three stocks, two evaluable months and a last date whose next-month returns are unknown."""
    return rows(
        {
            "date": ["2020-01-31"] * 3 + ["2020-02-29"] * 3 + ["2020-03-31"] * 3,
            "ticker": ["A", "B", "C"] * 3,
            "pred": [0.3, 0.2, 0.1, 0.1, 0.3, 0.2, 0.5, 0.4, 0.3],
            "fwd_ret_1m": [0.10, -0.10, 0.05, 0.0, 0.20, -0.10, np.nan, np.nan, np.nan],
            "market_ret_1m": [0.02] * 3 + [0.01] * 3 + [np.nan] * 3,
        }
    )


def panel(n_stocks: int = 100, n_months: int = 120, skill: float = 0.005, seed: int = 0) -> pd.DataFrame:
    """Synthetic monthly panel: r = market + skill * z + 8% noise; ``signal`` = z, ``oracle`` = r itself."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2010-01-31", periods=n_months, freq="ME")
    frame = pd.DataFrame(
        {"date": np.repeat(dates, n_stocks), "ticker": np.tile([f"S{i:03d}" for i in range(n_stocks)], n_months)}
    )
    market = np.repeat(rng.normal(0.007, 0.04, n_months), n_stocks)
    frame["signal"] = rng.normal(size=len(frame))
    frame["fwd_ret_1m"] = market + skill * frame["signal"] + rng.normal(0, 0.08, len(frame))
    frame["market_ret_1m"] = market
    frame["oracle"] = frame["fwd_ret_1m"]
    frame["noise"] = rng.normal(size=len(frame))
    frame["zero"] = 0.0
    frame["reversed"] = -frame["signal"]
    return frame


# --- the hand-computed book ---------------------------------------------------------------


def test_hand_computed_two_months() -> None:
    settings = PortfolioSettings(top_k=2, long_short_quantile=0.1, cost_bps=10, bootstrap_samples=20)
    result = run_backtest(hand_frame(), "pred", settings)
    m = result.monthly
    assert list(m.index) == list(pd.to_datetime(["2020-01-31", "2020-02-29"]))  # March: no known returns
    assert result.stats["dates_dropped"] == 1
    exact = {"abs": 1e-12}

    # top, January: A, B (best two predictions) at 1/2 each, bought from cash (drifted = 0):
    #   traded = |.5 - 0| + |.5 - 0| = 1.0, one-way turnover .5, cost = 10/1e4 * 1.0 = .001
    #   gross = .5 * .10 + .5 * -.10 = 0, net = -.001
    #   drifted: A = .5 * 1.1 / 1.0 = .55, B = .5 * .9 / 1.0 = .45
    # top, February: B (.3), C (.2):
    #   traded = |0 - .55| + |.5 - .45| + |.5 - 0| = 1.10, turnover .55, cost .0011
    #   gross = .5 * .20 + .5 * -.10 = .05, net = .05 - .0011 = .0489
    #   drifted: B = .5 * 1.2 / 1.05 = 4/7, C = .5 * .9 / 1.05 = 3/7
    #   cumulative: gross 1.0 * 1.05 - 1 = .05; net .999 * 1.0489 - 1 = .0478511
    assert m["top_gross"].tolist() == pytest.approx([0.0, 0.05], **exact)
    assert m["top_turnover"].tolist() == pytest.approx([0.5, 0.55], **exact)
    assert m["top_cost"].tolist() == pytest.approx([0.001, 0.0011], **exact)
    assert m["top_net"].tolist() == pytest.approx([-0.001, 0.0489], **exact)
    assert m["top_gross_cum"].tolist() == pytest.approx([0.0, 0.05], **exact)
    assert m["top_net_cum"].tolist() == pytest.approx([-0.001, 0.0478511], **exact)
    top = result.positions[result.positions["strategy"] == "top"]
    assert top["ticker"].tolist() == ["A", "B", "B", "C"]
    assert top["weight"].tolist() == pytest.approx([0.5, 0.5, 0.5, 0.5], **exact)
    assert top["drifted"].tolist() == pytest.approx([0.55, 0.45, 4 / 7, 3 / 7], **exact)

    # long-short, one name per leg (floor(.1 * 3) = 0, at least 1):
    #   January: +1 A, -1 C; traded = 2, turnover 1, cost .002; gross = .10 - .05 = .05, net .048
    #   drifted: A = 1.1 / 1.05 = 22/21, C = -1 * 1.05 / 1.05 = -1
    #   February: +1 B, -1 A; traded = |-1 - 22/21| + |1 - 0| + |0 + 1| = 85/21, turnover 85/42
    #   gross = .20 - 0 = .20, net = .20 - .001 * 85/21; drifted: B = 1.2 / 1.2 = 1, A = -1 * 1.0 / 1.2 = -5/6
    assert m["long_short_gross"].tolist() == pytest.approx([0.05, 0.20], **exact)
    assert m["long_short_turnover"].tolist() == pytest.approx([1.0, 85 / 42], **exact)
    assert m["long_short_net"].tolist() == pytest.approx([0.048, 0.20 - 0.001 * 85 / 21], **exact)
    short = result.positions[result.positions["strategy"] == "long_short"]
    assert short["ticker"].tolist() == ["A", "C", "A", "B"]
    assert short["weight"].tolist() == pytest.approx([1, -1, -1, 1], **exact)
    assert short["drifted"].tolist() == pytest.approx([22 / 21, -1, -5 / 6, 1], **exact)

    # benchmarks: universe = mean of the known returns; index = market_ret_1m
    assert m["universe"].tolist() == pytest.approx([0.05 / 3, 0.1 / 3], **exact)
    assert m["market"].tolist() == pytest.approx([0.02, 0.01], **exact)

    s = result.stats
    assert s["top_gross_return_ann"] == pytest.approx(1.05**6 - 1, **exact)  # (prod(1 + r))^(12/2) - 1
    assert s["top_gross_excess_index_ann"] == pytest.approx(12 * ((0 - 0.02) + (0.05 - 0.01)) / 2, **exact)
    assert s["top_gross_sharpe"] == pytest.approx(np.sqrt(6), **exact)  # sqrt(12) * .025 / (.05 / sqrt(2))
    assert s["top_net_max_drawdown"] == pytest.approx(-0.001, **exact)  # wealth 1 -> .999 -> 1.048
    assert s["top_gross_hit_index"] == 0.5  # 0 < .02, .05 > .01
    assert s["top_turnover"] == pytest.approx(0.55, **exact)  # the purchase from cash is not averaged in
    assert s["top_cost_ann"] == pytest.approx(12 * (0.001 + 0.0011) / 2, **exact)
    assert result.by_year.loc[2020, "top_net_return_ann"] == pytest.approx(s["top_net_return_ann"], **exact)


# --- sanity: an oracle wins, shuffled predictions have no edge -----------------------------


def test_realised_return_as_predictor_beats_every_other_predictor_and_the_benchmarks() -> None:
    results = compare_predictors(panel(), ["oracle", "signal", "noise", "zero", "reversed"], SMALL)
    best = results["oracle"].stats
    for name in ("signal", "noise", "zero", "reversed"):
        for key in ("top_net_return_ann", "top_net_excess_ew_ann", "long_short_net_return_ann"):
            assert best[key] > results[name].stats[key], (name, key)
    assert best["top_net_return_ann"] > max(best["market_return_ann"], best["universe_return_ann"])
    assert best["top_net_excess_index_lo"] > 0 and best["top_net_hit_index"] == 1.0
    # a real but weak signal is detected, its mirror image loses
    assert results["signal"].stats["top_gross_excess_ew_lo"] > 0
    assert results["signal"].stats["long_short_gross_mean_lo"] > 0
    assert results["reversed"].stats["top_gross_excess_ew_hi"] < 0


def permuted_within_dates(frame: pd.DataFrame, column: str, seed: int) -> pd.Series:
    """``column`` shuffled among the tickers of each date (keeps each date's values, destroys the ranking)."""
    rng = np.random.default_rng(seed)
    return frame.groupby("date")[column].transform(lambda s: rng.permutation(s.to_numpy()))


def test_shuffled_predictions_have_no_excess_return() -> None:
    frame = panel()
    covered, estimates = 0, []
    for seed in range(5):
        shuffled = permuted_within_dates(frame, "signal", 100 + seed)
        stats = run_backtest(frame.assign(shuffled=shuffled), "shuffled", SMALL).stats
        covered += stats["top_gross_excess_ew_lo"] < 0 < stats["top_gross_excess_ew_hi"]
        estimates.append(stats["top_gross_excess_ew_ann"])
        assert abs(stats["top_gross_excess_ew_t"]) < 3
        assert abs(stats["long_short_gross_mean_t"]) < 3
    assert covered >= 4  # a 95% interval; 5 seeds
    assert abs(np.mean(estimates)) < 0.02  # vs the signal's ~+0.1 a year


# --- costs, turnover and the rebalancing schedule -----------------------------------------


def test_zero_costs_give_net_equal_gross_and_costs_scale_linearly() -> None:
    frame = panel(n_stocks=30, n_months=24)
    free = run_backtest(frame, "signal", PortfolioSettings(cost_bps=0, bootstrap_samples=20)).monthly
    for s in ("top", "long_short"):
        assert (free[f"{s}_net"] == free[f"{s}_gross"]).all()
    ten = run_backtest(frame, "signal", PortfolioSettings(cost_bps=10, bootstrap_samples=20)).monthly
    many = run_backtest(frame, "signal", PortfolioSettings(cost_bps=25, bootstrap_samples=20)).monthly
    for s in ("top", "long_short"):
        assert (ten[f"{s}_gross"] == many[f"{s}_gross"]).all() and (ten[f"{s}_turnover"] == many[f"{s}_turnover"]).all()
        np.testing.assert_allclose(many[f"{s}_gross"] - many[f"{s}_net"], 2.5 * (ten[f"{s}_gross"] - ten[f"{s}_net"]), atol=1e-15)
        np.testing.assert_allclose(ten[f"{s}_cost"], 10 / 1e4 * 2 * ten[f"{s}_turnover"], atol=1e-15)


def test_quarterly_rebalancing_trades_only_every_third_month_and_lets_weights_drift() -> None:
    frame = panel(n_stocks=30, n_months=24)
    result = run_backtest(frame, "signal", PortfolioSettings(rebalance_months=3, bootstrap_samples=20))
    m = result.monthly
    every_third = np.arange(24) % 3 == 0
    assert (m["rebalance"].to_numpy() == every_third).all()
    for s in ("top", "long_short"):
        assert (m[f"{s}_turnover"].to_numpy()[~every_third] == 0).all()
        assert (m[f"{s}_turnover"].to_numpy()[every_third] > 0).all()
        book = result.positions[result.positions["strategy"] == s].set_index(["date", "ticker"])
        dates = list(m.index)
        for t in np.flatnonzero(~every_third):  # held weights = last month's drifted weights
            np.testing.assert_allclose(book.loc[dates[t], "weight"], book.loc[dates[t - 1], "drifted"], atol=1e-15)
    assert result.stats["rebalances"] == 8


def test_schedule_restarts_after_a_gap_in_the_dates() -> None:
    dates = pd.to_datetime(["2019-10-31", "2019-11-30", "2019-12-31", "2021-01-31", "2021-02-28", "2021-03-31"])
    assert rebalance_schedule(dates, 3).tolist() == [True, False, False, True, False, False]
    assert rebalance_schedule(dates, 1).all()


@hypothesis_settings(max_examples=30, deadline=None)
@given(
    st.integers(2, 12),
    st.integers(1, 14),
    st.sampled_from([1, 3, 6, 12]),
    st.integers(0, 10_000),
)
@example(n_stocks=2, n_months=12, rebalance_months=6, seed=2098)  # a drifted long-short book that lost everything
def test_book_invariants(n_stocks: int, n_months: int, rebalance_months: int, seed: int) -> None:
    """Long-only weights sum to 1 when invested, one-way turnover stays in [0, 1], costs never help."""
    frame = panel(n_stocks=n_stocks, n_months=n_months, seed=seed)
    frame.loc[frame.sample(frac=0.1, random_state=seed).index, "fwd_ret_1m"] = np.nan
    result = run_backtest(frame, "noise", PortfolioSettings(rebalance_months=rebalance_months, bootstrap_samples=10))
    m = result.monthly
    top = result.positions[result.positions["strategy"] == "top"].groupby("date")["weight"].sum()
    assert np.allclose(top[m["rebalance"].reindex(top.index)], 1.0)
    assert ((m["top_turnover"] >= 0) & (m["top_turnover"] <= 1 + 1e-12)).all()
    for s in ("top", "long_short"):
        assert (m[f"{s}_net"] <= m[f"{s}_gross"]).all()
        assert np.allclose(m[f"{s}_net_cum"], (1 + m[f"{s}_net"]).cumprod() - 1)
    legs = result.positions[result.positions["strategy"] == "long_short"].groupby("date")["weight"].sum()
    assert np.allclose(legs[m["rebalance"].reindex(legs.index)], 0.0)  # dollar-neutral when set


# --- unknown returns and ties --------------------------------------------------------------


def unknown_frame() -> pd.DataFrame:
    """A has the best prediction but its January return is unknown (delisted mid-month)."""
    return rows(
        {
            "date": ["2020-01-31"] * 4 + ["2020-02-29"] * 3,
            "ticker": ["A", "B", "C", "D", "B", "C", "D"],
            "pred": [0.9, 0.5, 0.4, 0.1, 0.5, 0.4, 0.1],
            "fwd_ret_1m": [np.nan, 0.02, 0.04, -0.03, 0.01, 0.02, 0.03],
            "market_ret_1m": [0.01] * 4 + [0.0] * 3,
        }
    )


def test_unknown_returns_are_excluded_from_ranking_and_counted() -> None:
    result = run_backtest(unknown_frame(), "pred", PortfolioSettings(top_k=1, bootstrap_samples=20))
    top = result.positions[result.positions["strategy"] == "top"]
    assert top["ticker"].tolist() == ["B", "B"]  # A is skipped, not held at an invented return
    assert result.monthly["universe"].iloc[0] == pytest.approx((0.02 + 0.04 - 0.03) / 3)
    assert result.stats["unknown_excluded"] == 1 and result.stats["unknown_filled"] == 0


def test_missing_return_setting_ranks_unknown_rows_and_credits_that_return() -> None:
    settings = PortfolioSettings(top_k=1, missing_return=-0.5, bootstrap_samples=20)
    result = run_backtest(unknown_frame(), "pred", settings)
    assert result.monthly["top_gross"].iloc[0] == pytest.approx(-0.5)
    assert result.monthly["universe"].iloc[0] == pytest.approx((-0.5 + 0.02 + 0.04 - 0.03) / 4)
    assert result.stats["unknown_filled"] == 1 and result.stats["top_unknown_held"] == 1


def test_held_stock_with_unknown_return_earns_zero_and_moves_to_cash() -> None:
    frame = rows(
        {
            "date": ["2020-01-31"] * 3 + ["2020-02-29"] * 3 + ["2020-03-31"] * 3,
            "ticker": ["A", "B", "C"] * 3,
            "pred": [0.3, 0.2, 0.1] * 3,
            "fwd_ret_1m": [0.10, 0.10, 0.0, np.nan, 0.10, 0.0, np.nan, 0.10, 0.0],
            "market_ret_1m": [0.0] * 9,
        }
    )
    result = run_backtest(frame, "pred", PortfolioSettings(top_k=2, rebalance_months=3, bootstrap_samples=20))
    # Jan: A, B at .5, both +10% -> drifted .5 each. Feb: A unknown -> 0, B +10%: gross .05;
    # A's value (.5 / 1.05) goes to cash, B drifts to .55 / 1.05. Mar: gross = .55 / 1.05 * .10.
    assert result.monthly["top_gross"].tolist() == pytest.approx([0.10, 0.05, 0.055 / 1.05], abs=1e-12)
    assert result.monthly["top_names"].tolist() == [2, 2, 1]
    assert result.stats["top_unknown_held"] == 1
    assert result.monthly["top_turnover"].tolist() == [0.5, 0.0, 0.0]  # the move to cash is not a trade


def test_a_book_that_loses_all_its_capital_books_minus_100_percent_and_stays_worthless() -> None:
    months = ["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30"]
    frame = rows(
        {
            "date": [m for m in months for _ in range(2)],
            "ticker": ["A", "B"] * 4,
            "pred": [0.3, 0.1] * 4,
            "fwd_ret_1m": [-0.6, 0.6, 0.1, 0.0, 0.1, 0.0, 0.1, 0.0],  # long A falls 60%, short B rises 60%
            "market_ret_1m": [0.0] * 8,
        }
    )
    settings = PortfolioSettings(top_k=1, long_short_quantile=0.5, rebalance_months=3, cost_bps=10, bootstrap_samples=20)
    result = run_backtest(frame, "pred", settings)
    m = result.monthly
    assert m["long_short_gross"].tolist() == pytest.approx([-1.0, 0.0, 0.0, 0.1])  # -120% capped; then cash
    assert m["long_short_net"].tolist()[:3] == [-1.0, 0.0, 0.0]  # the cost cannot take more than everything
    assert (m["long_short_net_cum"] == -1.0).all()
    assert result.stats["long_short_wiped_out"] == 1 and result.stats["top_wiped_out"] == 0
    assert result.stats["long_short_net_return_ann"] == -1.0
    assert m["top_gross"].tolist() == pytest.approx([-0.6, 0.1, 0.1, 0.1])


def test_ties_are_broken_by_ticker_and_do_not_depend_on_row_order() -> None:
    frame = panel(n_stocks=8, n_months=6).assign(flat=1.0)
    settings = PortfolioSettings(top_k=2, long_short_quantile=0.25, bootstrap_samples=20)
    result = run_backtest(frame, "flat", settings)
    first = result.positions[result.positions["date"] == frame["date"].min()]
    assert first.loc[first["strategy"] == "top", "ticker"].tolist() == ["S000", "S001"]
    legs = first[first["strategy"] == "long_short"].set_index("ticker")["weight"]
    assert legs.to_dict() == {"S000": 0.5, "S001": 0.5, "S006": -0.5, "S007": -0.5}
    assert result.stats["top_tie_break_dates"] == 6 and result.stats["long_short_tie_break_dates"] == 6
    shuffled = run_backtest(frame.sample(frac=1.0, random_state=1), "flat", settings)
    pd.testing.assert_frame_equal(shuffled.monthly, result.monthly)
    assert shuffled.stats == result.stats


def test_a_date_without_predictions_leaves_the_book_in_cash() -> None:
    frame = panel(n_stocks=10, n_months=6)
    frame.loc[frame["date"] == frame["date"].min(), "noise"] = np.nan
    result = run_backtest(frame, "noise", PortfolioSettings(bootstrap_samples=10))
    m = result.monthly
    assert m["top_names"].tolist() == [0, 1, 1, 1, 1, 1] and m["top_gross"].iloc[0] == 0.0
    assert m["top_from_cash"].tolist() == [True, True, False, False, False, False]
    assert result.stats["top_cash_months"] == 1 and result.stats["long_short_cash_months"] == 1
    assert result.stats["top_turnover"] == pytest.approx(m["top_turnover"].iloc[2:].mean())  # the purchase is left out


def test_top_k_larger_than_the_universe_holds_everyone() -> None:
    result = run_backtest(hand_frame(), "pred", PortfolioSettings(top_k=10, bootstrap_samples=20))
    assert result.monthly["top_names"].tolist() == [3, 3]
    np.testing.assert_allclose(result.monthly["top_gross"].iloc[0], result.monthly["universe"].iloc[0], atol=1e-15)


# --- API and messages ----------------------------------------------------------------------


def test_compare_predictors_matches_run_backtest_and_flattens() -> None:
    frame = panel(n_stocks=20, n_months=24)
    results = compare_predictors(frame, ["signal", "noise"], SMALL)
    alone = run_backtest(frame, "noise", SMALL)
    pd.testing.assert_frame_equal(results["noise"].monthly, alone.monthly)
    assert results["noise"].stats == alone.stats
    flat = flatten(results)
    assert "portfolio_signal_top_net_excess_index_ann" in flat and "portfolio_noise_long_short_turnover" in flat
    assert "portfolio_market_return_ann" in flat and "portfolio_signal_market_return_ann" not in flat
    assert flat["portfolio_months"] == 24
    assert list(alone.by_year.index) == [2010, 2011]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"top_k": 0}, "params: evaluate.top_k = 0 is out of range; allowed: an integer >= 1, or null to use top_quantile"),
        ({"top_quantile": 1.5}, "params: evaluate.top_quantile = 1.5 is out of range; allowed: more than 0 and at most 1"),
        (
            {"long_short_quantile": 0.6},
            "params: evaluate.long_short_quantile = 0.6 is out of range; allowed: more than 0 and at most 0.5",
        ),
        ({"cost_bps": -1}, "params: evaluate.cost_bps = -1.0 is out of range; allowed: 0 to 1000 (basis points)"),
        ({"rebalance_months": 2}, "params: evaluate.rebalance_months = 2 is out of range; allowed: one of 1, 3, 6, 12"),
    ],
)
def test_settings_are_checked_when_params_load_and_name_the_key_and_range(change: dict, message: str) -> None:
    from invest import params

    with pytest.raises(ConfigError) as caught:
        params.from_dict({"evaluate": change})
    assert str(caught.value) == message
    assert PortfolioSettings.from_params(params.from_dict({}).evaluate) == PortfolioSettings()


def test_bad_frames_fail_in_one_line() -> None:
    frame = hand_frame()
    cases = {
        "portfolio backtest: the predictions frame has no 'fwd_ret_1m' column; add it (see docs/portfolio.md)": frame.drop(
            columns="fwd_ret_1m"
        ),
        "portfolio backtest: ticker A appears twice on 2020-01-31; keep one row per (date, ticker)": pd.concat(
            [frame, frame.iloc[:1]]
        ),
        "portfolio backtest: market_ret_1m differs between tickers on 2020-01-31; it must be one index return per date": frame.assign(
            market_ret_1m=frame["market_ret_1m"] + np.r_[0.01, 0, 0, 0, 0, 0, 0, 0, 0]
        ),
        "portfolio backtest: two snapshot dates in 2020-02; the backtest needs one date per month": frame.assign(
            date=frame["date"].replace(pd.Timestamp("2020-01-31"), pd.Timestamp("2020-02-01"))
        ),
        "portfolio backtest: the predictions frame has no predictor column 'pred'": frame.drop(columns="pred"),
    }
    for message, bad in cases.items():
        with pytest.raises(DataError) as caught:
            run_backtest(bad, "pred", SMALL)
        assert str(caught.value) == message
