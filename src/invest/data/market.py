"""A simulated stock market with a known answer.

``simulate(n_tickers, start, end, seed)`` returns the same raw tables a live source
writes (see ``invest.data.schema``) plus an ``oracle`` table: the expected return the
generator planted, which no feature contains.

Generating process (all draws from one ``numpy`` generator seeded by ``seed``):

* **Calendar**: business days from ``start`` to ``end``; monthly steps end on the
  last business day of each month.
* **Market**: daily index return = drift + volatility · N(0,1). Volatility follows a
  two-state Markov regime (calm ~13% a year, stressed ~32%) with forced crashes
  (Sep 2008–Mar 2009, late Feb–Mar 2020) and rebounds after them. The volatility
  index is the annualised regime volatility with noise; the short rate and the
  10-year yield follow smoothed historical-looking paths plus noise.
* **Monthly macro**: inflation, unemployment and GDP growth, each published after a
  lag (15, 7 and 30 days after the month ends).
* **Stocks**: each ticker has a sector (11 GICS-style sectors), an industry, a market
  beta, a sector loading, an idiosyncratic volatility and two latent traits, value
  and quality, that drift as monthly AR(1) processes (persistence 0.98). About 10%
  list late and 5% delist early.
* **Returns**: r[i,d] = alpha[i,m] / 252 + beta_i · market[d] + sector[s(i),d]
  + sigma_i · regime_scale[d] · N(0,1), where alpha is set at each month end m from
  what is known then and held for the next month.
* **Planted signal** (annualised, cross-sectionally demeaned each month):
  alpha = 0.06·quality + 0.045·value·(0.5 + sigmoid(2·term_spread_z))
  + 0.045·tanh(momentum_12_1 / 0.35)·(1 − 0.7·stress) − 0.04·(volatility_rank − 0.5)·2
  + 0.025·quality·value, then scaled by ``signal_strength``. The
  value/term-spread interaction and the crash switch on momentum make it nonlinear
  and dependent on the macro state.
* **Fundamentals** reveal the latent traits with noise, quarterly: sales/price and
  book/market rise with value; margin, ROE and cash conversion rise with quality;
  leverage falls with it. Each quarter is reported 30–60 days after its period end.
* **Oracle**: ``expected_return_1y`` is alpha[i,m], the planted expected excess
  return over the next year as known at the month end. Realised returns add
  factor and idiosyncratic noise, so even the oracle's per-date 1-year rank IC is
  only about 0.15–0.30, as in real markets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from invest.data.schema import FUNDAMENTAL_FIELDS, GICS_SECTORS

TRADING_DAYS = 252
CRASHES = (  # (start, end, daily drift, regime) — 2008 and 2020, then rebounds
    ("2008-09-12", "2009-03-09", -0.0045, 2),
    ("2009-03-10", "2009-12-31", 0.0022, 1),
    ("2020-02-20", "2020-03-23", -0.0140, 2),
    ("2020-03-24", "2020-08-31", 0.0030, 1),
)
REGIME_VOL = np.array([0.008, 0.020, 0.035])  # daily market volatility: calm, stressed, crash
REGIME_IDIO_SCALE = np.array([1.0, 1.4, 2.2])
SHORT_RATE_KNOTS = {
    "2006": 5.0,
    "2007-07": 5.0,
    "2008-12": 0.2,
    "2015-11": 0.2,
    "2019-06": 2.4,
    "2020-04": 0.1,
    "2022-02": 0.1,
    "2023-08": 5.3,
    "2024-12": 4.4,
}
LONG_RATE_KNOTS = {
    "2006": 4.8,
    "2007-06": 5.1,
    "2008-12": 2.4,
    "2010-03": 3.8,
    "2012-07": 1.5,
    "2013-12": 3.0,
    "2016-07": 1.5,
    "2018-10": 3.2,
    "2020-03": 0.7,
    "2021-12": 1.5,
    "2022-10": 4.1,
    "2023-10": 4.9,
    "2024-12": 4.4,
}
INFLATION_KNOTS = {
    "2006": 3.2,
    "2008-07": 5.5,
    "2009-07": -1.5,
    "2011-09": 3.8,
    "2015-06": 0.0,
    "2018-07": 2.9,
    "2020-05": 0.2,
    "2022-06": 9.0,
    "2024-06": 3.0,
    "2024-12": 2.8,
}
UNEMPLOYMENT_KNOTS = {
    "2006": 4.7,
    "2008-01": 5.0,
    "2009-10": 10.0,
    "2014-01": 6.6,
    "2019-09": 3.5,
    "2020-04": 14.7,
    "2021-06": 5.9,
    "2023-04": 3.4,
    "2024-12": 4.2,
}
GDP_KNOTS = {
    "2006": 2.8,
    "2008-06": 0.5,
    "2009-06": -4.0,
    "2010-06": 2.7,
    "2019-12": 2.3,
    "2020-06": -9.0,
    "2021-06": 12.0,
    "2022-06": 1.8,
    "2024-12": 2.5,
}
MACRO_RELEASE_LAG_DAYS = {"inflation": 15, "unemployment": 7, "gdp_growth": 30}
INDUSTRIES_PER_SECTOR = 3


def simulate(
    n_tickers: int = 100,
    start: str = "2006-01-01",
    end: str = "2024-12-31",
    seed: int = 42,
    signal_strength: float = 1.0,
) -> dict[str, pd.DataFrame]:
    """Simulate the raw tables (prices, companies, fundamentals, market, macro, oracle)."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(start, end)
    if len(days) < 2 * TRADING_DAYS:
        raise ValueError("the simulated market needs at least two years between start and end")
    month_of_day = days.year * 12 + days.month
    month_ends = np.flatnonzero(np.r_[month_of_day[1:] != month_of_day[:-1], True])  # day index of each month end

    market = _simulate_market(days, rng)
    companies, traits = _simulate_companies(n_tickers, rng)
    listed = _listing_windows(n_tickers, len(days), month_ends, rng)
    log_price, alpha, volume, extra = _simulate_returns(days, month_ends, market, traits, listed, signal_strength, rng)
    prices = _price_table(days, companies["ticker"].to_numpy(), log_price, volume, extra, listed, rng)
    fundamentals = _fundamentals_table(days, companies, extra, log_price, listed, rng)
    oracle = _oracle_table(days, month_ends, companies["ticker"].to_numpy(), alpha, listed)
    return {
        "prices": prices,
        "companies": companies,
        "fundamentals": fundamentals,
        "market": market["table"],
        "macro": _macro_table(days, rng),
        "oracle": oracle,
    }


def _path(days: pd.DatetimeIndex, knots: dict[str, float]) -> np.ndarray:
    """Piecewise-linear path through dated knots, evaluated on ``days``."""
    knot_days = pd.to_datetime(list(knots), format="ISO8601").to_numpy().astype("datetime64[D]").astype(float)
    at = days.to_numpy().astype("datetime64[D]").astype(float)
    return np.interp(at, knot_days, np.array(list(knots.values()), dtype=float))


def _ar1(n: int, persistence: float, scale: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, scale, n)
    out = np.empty(n)
    level = 0.0
    for i in range(n):
        level = persistence * level + noise[i]
        out[i] = level
    return out


def _simulate_market(days: pd.DatetimeIndex, rng: np.random.Generator) -> dict:
    n = len(days)
    regime = np.zeros(n, dtype=int)
    switch = rng.random(n)
    for d in range(1, n):  # calm <-> stressed Markov chain
        stay = 0.997 if regime[d - 1] == 0 else 0.97
        regime[d] = regime[d - 1] if switch[d] < stay else 1 - regime[d - 1]
    drift = np.full(n, 0.0003)
    noise = rng.standard_normal(n)
    for crash_start, crash_end, crash_drift, crash_regime in CRASHES:
        window = (days >= crash_start) & (days <= crash_end)
        drift[window] = crash_drift
        regime[window] = np.maximum(regime[window], crash_regime)
        if window.any():
            noise[window] -= noise[window].mean()  # a crash window moves by exactly its drift
    vol = REGIME_VOL[regime]
    market_return = drift + vol * noise
    vol_index = np.clip(100 * np.sqrt(TRADING_DAYS) * vol * np.exp(_ar1(n, 0.97, 0.04, rng)), 9.0, 90.0)
    short_rate = np.clip(_path(days, SHORT_RATE_KNOTS) + _ar1(n, 0.99, 0.01, rng), 0.01, None)
    long_rate = np.clip(_path(days, LONG_RATE_KNOTS) + _ar1(n, 0.99, 0.03, rng), 0.3, None)
    table = pd.DataFrame(
        {
            "date": days,
            "index_close": 1000.0 * np.exp(np.cumsum(market_return)),
            "vol_index": vol_index,
            "short_rate": short_rate,
            "long_rate": long_rate,
        }
    )
    return {"table": table, "return": market_return, "regime": regime, "term_spread": long_rate - short_rate}


def _simulate_companies(n_tickers: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    width = max(3, len(str(n_tickers - 1)))
    tickers = [f"S{i:0{width}d}" for i in range(n_tickers)]
    sector_id = rng.permutation(np.arange(n_tickers) % len(GICS_SECTORS))
    industry_id = rng.integers(0, INDUSTRIES_PER_SECTOR, n_tickers)
    companies = pd.DataFrame(
        {
            "ticker": tickers,
            "name": [f"Simulated Company {i}" for i in range(n_tickers)],
            "sector": [GICS_SECTORS[s] for s in sector_id],
            "industry": [f"{GICS_SECTORS[s]} {chr(ord('A') + k)}" for s, k in zip(sector_id, industry_id, strict=False)],
        }
    )
    traits = {
        "sector_id": sector_id,
        "beta": rng.uniform(0.6, 1.5, n_tickers),
        "idio_vol": rng.uniform(0.15, 0.45, n_tickers) / np.sqrt(TRADING_DAYS),
        "shares": np.exp(rng.normal(20.0, 1.0, n_tickers)),
        "start_price": np.exp(rng.normal(3.5, 0.7, n_tickers)),
        "dividend_yield": rng.uniform(0.0, 0.03, n_tickers),
        "turnover": np.exp(rng.normal(np.log(0.006), 0.4, n_tickers)),
        "leverage_base": np.where(sector_id == GICS_SECTORS.index("Financials"), 2.0, 0.9),
    }
    return companies, traits


def _listing_windows(n_tickers: int, n_days: int, month_ends: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boolean [days, tickers]: when each ticker trades (late listings and early delistings)."""
    first = np.zeros(n_tickers, dtype=int)
    last = np.full(n_tickers, n_days - 1)
    late = rng.random(n_tickers) < 0.10
    first[late] = rng.integers(TRADING_DAYS, max(TRADING_DAYS + 1, n_days - 3 * TRADING_DAYS), late.sum())
    early = (rng.random(n_tickers) < 0.05) & ~late
    low, high = min(4 * TRADING_DAYS, n_days // 2), n_days - TRADING_DAYS
    last[early] = rng.integers(low, max(low + 1, high), early.sum())
    day = np.arange(n_days)[:, None]
    return (day >= first) & (day <= last)


def _simulate_returns(days, month_ends, market, traits, listed, signal_strength, rng):
    n_days, n_tickers = listed.shape
    sector_id = traits["sector_id"]
    regime = market["regime"]
    spread = market["term_spread"]
    sector_returns = 0.006 * REGIME_IDIO_SCALE[regime][:, None] * rng.standard_normal((n_days, len(GICS_SECTORS)))
    shocks = rng.standard_normal((n_days, n_tickers))
    value = rng.standard_normal(n_tickers)
    quality = rng.standard_normal(n_tickers)
    log_return = np.zeros((n_days, n_tickers))
    alpha = np.zeros((len(month_ends), n_tickers))
    value_path = np.zeros((len(month_ends), n_tickers))
    quality_path = np.zeros((len(month_ends), n_tickers))
    current_alpha = np.zeros(n_tickers)
    month_start = 0
    for m, month_end in enumerate(month_ends):
        span = slice(month_start, month_end + 1)
        scale = REGIME_IDIO_SCALE[regime[span]][:, None]
        log_return[span] = (
            current_alpha / TRADING_DAYS
            + traits["beta"] * market["return"][span, None]
            + sector_returns[span][:, sector_id]
            + traits["idio_vol"] * scale * shocks[span]
        )
        value = 0.98 * value + np.sqrt(1 - 0.98**2) * rng.standard_normal(n_tickers)
        quality = 0.98 * quality + np.sqrt(1 - 0.98**2) * rng.standard_normal(n_tickers)
        value_path[m], quality_path[m] = value, quality
        current_alpha = signal_strength * _planted_alpha(log_return, month_end, value, quality, spread, regime)
        alpha[m] = current_alpha
        month_start = month_end + 1
    log_return[~listed] = 0.0
    log_price = np.log(traits["start_price"]) + np.cumsum(log_return, axis=0)
    size_noise = np.exp(0.5 * rng.standard_normal((n_days, n_tickers)))
    activity = 1.0 + 2.0 * np.abs(log_return) / (traits["idio_vol"] * 2.0)
    volume = np.round(traits["shares"] * traits["turnover"] * size_noise * activity)
    extra = {"log_return": log_return, "value": value_path, "quality": quality_path, **traits}
    return log_price, alpha, volume, extra


def _planted_alpha(log_return, month_end, value, quality, spread, regime):
    """The annualised expected excess return set at ``month_end`` from what is known then."""
    start_12 = max(0, month_end - TRADING_DAYS)
    momentum = log_return[start_12 : max(start_12, month_end - 21)].sum(axis=0)  # 12-1 month return
    recent = log_return[max(0, month_end - 63) : month_end + 1]
    volatility = recent.std(axis=0)
    vol_rank = (np.argsort(np.argsort(volatility)) + 0.5) / len(volatility)
    window = spread[max(0, month_end - 5 * TRADING_DAYS) : month_end + 1]
    spread_z = (spread[month_end] - window.mean()) / (window.std() + 1e-9)
    stress = float(regime[max(0, month_end - 21) : month_end + 1].mean() > 0.5)
    alpha = (
        0.06 * quality
        + 0.045 * value * (0.5 + 1.0 / (1.0 + np.exp(-2.0 * spread_z)))
        + 0.045 * np.tanh(momentum / 0.35) * (1.0 - 0.7 * stress)
        - 0.04 * (vol_rank - 0.5) * 2.0
        + 0.025 * quality * value
    )
    return alpha - alpha.mean()


def _price_table(days, tickers, log_price, volume, extra, listed, rng) -> pd.DataFrame:
    adj_close = np.exp(log_price)
    years_left = (days[-1] - days).days.to_numpy()[:, None] / 365.25
    close = adj_close * np.exp(extra["dividend_yield"] * years_left)  # back-adjusted for dividends
    gap = np.exp(0.3 * extra["idio_vol"] * rng.standard_normal(close.shape))
    open_ = np.vstack([close[:1], close[:-1]]) * gap
    wiggle = np.abs(extra["idio_vol"] * 0.6 * rng.standard_normal((2, *close.shape)))
    high = np.maximum(open_, close) * np.exp(wiggle[0])
    low = np.minimum(open_, close) * np.exp(-wiggle[1])
    day_idx, ticker_idx = np.nonzero(listed)
    order = np.lexsort((day_idx, ticker_idx))
    day_idx, ticker_idx = day_idx[order], ticker_idx[order]
    return pd.DataFrame(
        {
            "ticker": tickers[ticker_idx],
            "date": days[day_idx],
            "open": open_[day_idx, ticker_idx],
            "high": high[day_idx, ticker_idx],
            "low": low[day_idx, ticker_idx],
            "close": close[day_idx, ticker_idx],
            "adj_close": adj_close[day_idx, ticker_idx],
            "volume": volume[day_idx, ticker_idx],
        }
    )


def _fundamentals_table(days, companies, traits, log_price, listed, rng) -> pd.DataFrame:
    quarter_ends = pd.date_range(days[0], days[-1], freq="QE")
    month_index = (days.year - days[0].year) * 12 + days.month - days[0].month
    rows = []
    n_tickers = len(companies)
    value_path, quality_path = traits["value"], traits["quality"]
    for period_end in quarter_ends:
        d = int(days.searchsorted(period_end, side="right")) - 1
        m = min(int(month_index[d]), len(value_path) - 1)
        value, quality = value_path[m], quality_path[m]
        cap = np.exp(log_price[d]) * traits["shares"]
        noise = rng.standard_normal((8, n_tickers))
        revenue = cap * np.exp(-0.7 + 0.4 * value + 0.1 * noise[0]) / 4.0
        margin = 0.08 + 0.05 * quality + 0.02 * noise[1]
        net_income = revenue * margin
        equity = cap * np.exp(-0.6 + 0.5 * value + 0.1 * noise[2])
        assets = equity * np.exp(traits["leverage_base"] - 0.2 * quality + 0.1 * noise[3])
        debt = assets * np.clip(0.25 - 0.05 * quality + 0.03 * noise[4], 0.0, 0.9)
        cash = assets * np.clip(0.10 + 0.03 * quality + 0.02 * noise[5], 0.005, 0.6)
        operating_cash_flow = net_income * (1.1 + 0.3 * quality) + 0.02 * revenue * noise[6]
        shares = traits["shares"] * np.exp(0.01 * noise[7])
        values = {
            "revenue": revenue,
            "net_income": net_income,
            "eps": net_income / shares,
            "equity": equity,
            "assets": assets,
            "debt": debt,
            "cash": cash,
            "operating_cash_flow": operating_cash_flow,
            "free_cash_flow": operating_cash_flow - 0.05 * revenue,
            "shares": shares,
        }
        lag = rng.integers(30, 61, n_tickers)
        trading = listed[d]
        frame = pd.DataFrame({"ticker": companies["ticker"].to_numpy(), "period_end": period_end})
        frame["report_date"] = period_end + pd.to_timedelta(lag, unit="D")
        for field in FUNDAMENTAL_FIELDS:
            frame[field] = values[field]
        rows.append(frame[trading])
    out = pd.concat(rows, ignore_index=True)
    out = out[out["report_date"] <= days[-1]]
    return out.sort_values(["ticker", "period_end"], kind="mergesort").reset_index(drop=True)


def _oracle_table(days, month_ends, tickers, alpha, listed) -> pd.DataFrame:
    trading = listed[month_ends]  # [months, tickers]
    month_idx, ticker_idx = np.nonzero(trading)
    frame = pd.DataFrame(
        {
            "ticker": tickers[ticker_idx],
            "date": days[month_ends][month_idx],
            "expected_return_1y": alpha[month_idx, ticker_idx],
        }
    )
    return frame.sort_values(["ticker", "date"], kind="mergesort").reset_index(drop=True)


def _macro_table(days: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    months = pd.date_range(days[0], days[-1], freq="ME")
    series = {
        "inflation": _path(months, INFLATION_KNOTS) + _ar1(len(months), 0.8, 0.15, rng),
        "unemployment": _path(months, UNEMPLOYMENT_KNOTS) + _ar1(len(months), 0.8, 0.08, rng),
        "gdp_growth": _path(months, GDP_KNOTS) + _ar1(len(months), 0.6, 0.4, rng),
    }
    frames = [
        pd.DataFrame(
            {
                "series": name,
                "period_end": months,
                "release_date": months + pd.Timedelta(days=MACRO_RELEASE_LAG_DAYS[name]),
                "value": values,
            }
        )
        for name, values in series.items()
    ]
    out = pd.concat(frames, ignore_index=True)
    out = out[out["release_date"] <= days[-1]]
    return out.sort_values(["series", "period_end"], kind="mergesort").reset_index(drop=True)
