"""``invest predict``: the model's forecast for the latest snapshot of each ticker.

By default every ticker with a snapshot on the newest date on or before ``as_of`` (default: the
newest in the store) is scored; tickers whose data stopped earlier (delisted) are named on stderr.
Tickers asked for by name are scored from their newest snapshot, however old. Columns of the CSV:

  ticker, date (the snapshot the inputs come from), prediction (forward return of the model's
  horizon and kind, e.g. 1y excess), percentile (where the prediction ranks among every stock of
  that date: 100 = the best, what a stock picker acts on), mc_std (Monte Carlo dropout spread, when sampled),
  lower_<pct>/upper_<pct> (conformal intervals, built in log(1 + return) so they never fall below
  -100% and lean like returns do, when the checkpoint holds ``intervals``), confidence (0 = least, 1 = most; when the checkpoint holds
  ``confidence``), too_uncertain (1 when the narrowest interval is wider than the spread of every
  stock's outcomes: too uncertain to act on), each left empty (``n/a`` in the table) when the
  checkpoint lacks it.

Intervals and confidence come from ``uncertainty.predict_with_uncertainty``, the same code the
evaluate stage scores. Confidence ranks rows within a date, so it is computed over every
ticker's latest snapshot before the asked-for tickers are picked: a ticker's confidence does
not depend on which others were requested.
"""

from __future__ import annotations

import difflib
import os
import sys
from typing import Any

import numpy as np
import pandas as pd

from invest.data import store
from invest.data.panel import load_panel
from invest.errors import ConfigError, DataError
from invest.io import write_text
from invest.modelling.checkpoint import check_schema, load_model
from invest.modelling.dataset import arrays_for
from invest.modelling.inference import predict
from invest.modelling.uncertainty import TOO_UNCERTAIN, interval_columns, level_label, predict_with_uncertainty
from invest.params import Params

NA = "n/a"


def main(
    params: Params,
    db_path: str | os.PathLike[str],
    model_path: str | os.PathLike[str],
    out_csv: str | os.PathLike[str] | None = "predictions/latest.csv",
    tickers: list[str] | None = None,
    as_of: str | None = None,
    mc_samples: int | None = None,
    echo: bool = True,
) -> pd.DataFrame:
    """Score the latest snapshots; write ``out_csv`` (unless None) and print an aligned table.

    ``mc_samples`` None means: as many as the checkpoint's intervals were calibrated with, or 0
    (no sampling) when it has none; 0 skips intervals and confidence.
    """
    loaded = load_model(model_path)
    checkpoint = loaded.checkpoint
    panel = load_panel(db_path)
    check_schema(checkpoint, panel.temporal_features, panel.static_features, str(db_path))
    target = checkpoint["target"]
    arrays = arrays_for(panel, target)  # the latest rows have NaN labels
    dates, names = pd.DatetimeIndex(arrays.dates), np.asarray(arrays.tickers, dtype=object)
    every = select_rows(dates, names, None, as_of)
    in_store = stored_tickers(db_path)
    stale: list[str] = []
    if tickers:
        wanted = select_rows(dates, names, tickers, as_of, in_store)
    else:  # by default only what trades on the newest date: a delisted ticker's old snapshot is no forecast
        current = dates[every] == dates[every].max()
        wanted, stale = every[current], sorted(names[every[~current]])

    intervals = checkpoint.get("intervals") if isinstance(checkpoint.get("intervals"), dict) else None
    if mc_samples is None:  # what the intervals were calibrated with
        mc_samples = int((intervals or {}).get("mc_samples") or 0)
    if mc_samples < 0 or mc_samples == 1:
        raise ConfigError(f"--mc-samples {mc_samples}: allowed: 0 (no sampling) or 2 or more")
    frame, levels = score(loaded, arrays, every, intervals, mc_samples, params.train.seed)
    frame.insert(0, "date", dates[every].strftime("%Y-%m-%d"))
    frame.insert(0, "ticker", names[every])
    # where each stock ranks among every stock of its date (100 = the best prediction), before any is picked
    frame.insert(3, "percentile", 100 * frame.groupby("date")["prediction"].rank(pct=True))
    frame = frame.loc[np.isin(every, wanted)].astype({c: float for c in frame.columns if c not in ("ticker", "date")})
    frame = frame.sort_values(["prediction", "ticker"], ascending=[False, True], kind="mergesort").reset_index(drop=True)

    if out_csv is not None:
        write_text(out_csv, frame.to_csv(index=False, float_format="%.6g"))
    if echo:
        print(render(frame, checkpoint, levels, mc_samples, intervals is not None))
        if stale:
            print(
                f"predict: left out {len(stale)} ticker(s) with no snapshot on {frame['date'].max()} (delisted or "
                f"stale), e.g. {', '.join(stale[:5])}; name them with --ticker to score their last snapshot",
                file=sys.stderr,
            )
        if out_csv is not None:
            print(f"predict: {len(frame)} predictions -> {out_csv}", file=sys.stderr)
    return frame


def score(loaded, arrays, rows, intervals: dict | None, mc_samples: int, seed: int) -> tuple[pd.DataFrame, list[float]]:
    """Prediction per row of ``rows`` (the other rows of their dates are the cross-section's context); with
    intervals and >= 2 MC samples also the bounds and confidence."""
    if intervals and mc_samples >= 2:
        scored = predict_with_uncertainty(loaded, arrays, intervals, mc_samples, seed=seed, rows=rows)
        levels = [float(level) for level in intervals["levels"]]
        keep = ["prediction", "mc_std", *[c for pair in zip(*interval_columns(levels), strict=True) for c in pair]]
        frame = scored[keep].reset_index(drop=True)
        frame["confidence"] = scored["confidence"].to_numpy() if "confidence" in loaded.checkpoint else np.nan
        frame[TOO_UNCERTAIN] = scored[TOO_UNCERTAIN].to_numpy()
        return frame, levels
    out = predict(loaded, arrays, mc_samples=mc_samples, seed=seed, rows=rows)
    frame = pd.DataFrame({"prediction": out["prediction"]})
    if mc_samples >= 2:
        frame["mc_std"] = out["mc_std"]
    frame["confidence"] = np.nan
    frame[TOO_UNCERTAIN] = np.nan
    return frame, []


def stored_tickers(db_path: str | os.PathLike[str]) -> set[str]:
    """Every ticker the store has prices for, with or without snapshots."""
    connection = store.connect_readonly(db_path)
    try:
        return set(store.read_frame(connection, "SELECT ticker FROM tickers")["ticker"].astype(str))
    finally:
        connection.close()


def select_rows(
    dates: pd.DatetimeIndex,
    tickers: np.ndarray,
    wanted: list[str] | None,
    as_of: str | None,
    in_store: set[str] | frozenset[str] = frozenset(),
) -> np.ndarray:
    """Index of the newest snapshot on or before ``as_of`` per ticker (the wanted ones, or all).

    ``in_store`` names tickers the store has prices for, so that one without any snapshot gets
    a truthful message rather than "unknown ticker".
    """
    first, last = dates.min(), dates.max()
    cutoff = last
    if as_of is not None:
        try:
            cutoff = pd.Timestamp(as_of)
        except (ValueError, TypeError):
            raise ConfigError(f"--as-of {as_of!r} is not a date; write it as YYYY-MM-DD") from None
        if cutoff < first:
            raise DataError(
                f"--as-of {cutoff.date()} is before the first snapshot ({first.date()}); "
                f"the store covers {first.date()} to {last.date()}"
            )
    known = sorted(set(tickers.tolist()))
    in_store_upper = {t.upper() for t in in_store}
    if wanted:
        lookup = {t.upper(): t for t in known}
        resolved = []
        for name in wanted:
            if name in known:
                resolved.append(name)
            elif name.upper() in lookup:
                resolved.append(lookup[name.upper()])
            elif name.upper() in in_store_upper:
                raise DataError(
                    f"ticker {name!r} is in the store but has no snapshot (too little price history for a "
                    "feature window); fetch a longer history (data.start) or leave it out"
                )
            else:
                close = difflib.get_close_matches(name.upper(), list(lookup), n=5, cutoff=0.5)
                if close:
                    hint = f"close matches: {', '.join(lookup[c] for c in close)}"
                else:
                    hint = f"{len(known)} tickers in the store, e.g. {', '.join(known[:5])}"
                raise DataError(f"unknown ticker {name!r}; {hint}")
        selected = np.isin(tickers, list(dict.fromkeys(resolved)))
    else:
        resolved = known
        selected = np.ones(len(tickers), dtype=bool)
    candidates = np.flatnonzero(selected & np.asarray(dates <= cutoff))
    frame = pd.DataFrame({"row": candidates, "ticker": tickers[candidates], "date": dates[candidates]})
    latest = frame.sort_values(["ticker", "date"], kind="mergesort").groupby("ticker", sort=True).tail(1)
    missing = sorted(set(resolved) - set(latest["ticker"]))
    if wanted and missing:
        raise DataError(f"no snapshot of {', '.join(missing[:5])} on or before {cutoff.date()}")
    if latest.empty:
        raise DataError(f"no snapshots on or before {cutoff.date()}")
    return np.sort(latest["row"].to_numpy())


def render(frame: pd.DataFrame, checkpoint: dict[str, Any], levels: list[float], mc_samples: int, has_intervals: bool) -> str:
    """An aligned table, best prediction first, returns in percent."""
    target = checkpoint["target"]
    header = ["#", "ticker", "data date", f"predicted {target['horizon']} {target['kind']} return", "percentile"]
    header += [f"{level_label(level)}% interval" for level in levels] or ["interval"]
    header += ["confidence", ""]
    body = []
    for i, record in enumerate(frame.to_dict("records"), start=1):
        cells = [str(i), str(record["ticker"]), str(record["date"]), _pct(record["prediction"]), f"{record['percentile']:.0f}"]
        for level in levels:
            lower, upper = (names[0] for names in interval_columns([level]))
            bounds = (record[lower], record[upper])
            cells.append(f"[{_pct(bounds[0])}, {_pct(bounds[1])}]" if all(np.isfinite(bounds)) else NA)
        if not levels:
            cells.append(NA)
        value = record.get("confidence")
        cells.append(f"{value:.2f}" if value is not None and np.isfinite(value) else NA)
        cells.append("too uncertain to act on" if record.get(TOO_UNCERTAIN) == 1 else "")
        body.append(cells)
    right = {0, 3, 4}
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
    lines = [
        "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
        for r in (header, *body)
    ]
    notes = []
    if not has_intervals:
        notes.append("intervals: n/a (the checkpoint holds no conformal quantiles)")
    elif not levels:
        notes.append(f"intervals: n/a (--mc-samples {mc_samples}; they need 2 or more)")
    if "confidence" not in checkpoint:
        notes.append("confidence: n/a (the checkpoint holds no confidence settings)")
    flagged = int((frame[TOO_UNCERTAIN] == 1).sum()) if TOO_UNCERTAIN in frame else 0
    band = (checkpoint.get("intervals") or {}).get("outcome_band") or {}
    if flagged and levels and str(min(levels)) in band:
        low, high = band[str(min(levels))]
        notes.append(
            f"too uncertain to act on ({flagged} of {len(frame)}): the {level_label(min(levels))}% interval is wider than the "
            f"spread of every stock's outcomes ({_pct(low)} to {_pct(high)}, validation block); the model knows less about "
            "these stocks than the market as a whole does"
        )
    dates = frame["date"].unique()
    if len(dates) > 1:
        notes.append(f"data dates differ: {len(dates)} distinct, newest {max(dates)}, oldest {min(dates)}")
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:], *notes])


def _pct(value: float) -> str:
    return NA if value is None or not np.isfinite(value) else f"{100 * value:+.1f}%"
