"""Cross-sectional normalisation: a feature on a date depends on that date's stocks only."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from invest.modelling.cross_section import label_scores, map_to_returns, normalise, relative_features

DATES = pd.to_datetime(["2020-01-31", "2020-02-29", "2020-03-31"])


@st.composite
def panels(draw) -> pd.DataFrame:
    rows = []
    for date in DATES:
        for ticker in range(draw(st.integers(1, 8))):
            value = draw(st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)))
            rows.append((date, f"T{ticker}", np.nan if value is None else value))
    return pd.DataFrame(rows, columns=["date", "ticker", "x"])


@settings(max_examples=80, deadline=None)
@given(frame=panels(), method=st.sampled_from(["cs_rank", "cs_zscore"]), noise=st.floats(-1e3, 1e3, allow_nan=False))
def test_other_dates_never_change_a_dates_values(frame, method, noise):
    """Changing every value of the other dates, or dropping them, leaves date t's normalised values as they were."""
    t = DATES[1]
    here = frame["date"] == t
    before = normalise(frame, ["x"], method).loc[here, "x"].to_numpy()
    changed = frame.assign(x=np.where(here, frame["x"], frame["x"] * 3 + noise))
    alone = frame[here]
    np.testing.assert_array_equal(normalise(changed, ["x"], method).loc[here, "x"].to_numpy(), before)
    np.testing.assert_array_equal(normalise(alone, ["x"], method)["x"].to_numpy(), before)


def test_rank_gauss_keeps_order_and_missing_values():
    frame = pd.DataFrame({"date": DATES[0], "x": [3.0, np.nan, 1.0, 2.0, 2.0]})
    out = normalise(frame, ["x"], "cs_rank")["x"]
    assert np.isnan(out[1]) and out[2] < out[3] == out[4] < out[0]
    assert abs(out[[0, 2, 3, 4]].mean()) < 1e-12  # symmetric ranks centre on zero


def test_market_wide_features_and_flags_are_left_alone():
    names = ["ret_1m", "vol_index", "market_ret_12m", "sector_energy", "fundamentals_missing", "book_to_market"]
    assert relative_features(names) == ["ret_1m", "book_to_market"]


def test_labels_become_per_date_ranks_in_half_open_unit_range():
    label = np.array([0.5, -0.2, 0.1, np.nan, 3.0, 1.0])
    dates = np.array([DATES[0]] * 3 + [DATES[1]] * 3)
    scores = label_scores(label, dates, "cs_rank")
    np.testing.assert_allclose(scores[:3], [1 / 3, -1 / 3, 0.0])  # ranks 3, 1, 2 of 3 -> (r - 0.5) / 3 - 0.5
    assert np.isnan(scores[3]) and scores[4] > scores[5]


def test_the_map_to_returns_never_reverses_the_ranking():
    scores = np.linspace(-0.5, 0.5, 50)
    rising = map_to_returns(scores, 0.2 * scores + 0.05)
    assert abs(rising["slope"] - 0.2) < 1e-9 and abs(rising["intercept"] - 0.05) < 1e-9
    falling = map_to_returns(scores, -0.2 * scores)  # the network ranked the validation block the wrong way
    assert 0 < falling["slope"] <= 1e-6
