"""Written numbers are stable: a rerun that moves a float in its last digits, or flips the sign of a
zero, changes no file and adds no `dvc metrics diff` row."""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from invest.io import stable_numbers, write_csv, write_json


def test_negative_zero_and_last_digit_noise_vanish(tmp_path):
    write_json(tmp_path / "a.json", {"diff": -0.0, "ic": 0.123456789, "nested": [{"x": -0.0}], "n": 3, "none": None})
    write_json(tmp_path / "b.json", {"diff": 0.0, "ic": 0.1234567891234, "nested": [{"x": 0.0}], "n": 3, "none": None})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert json.loads((tmp_path / "a.json").read_text())["ic"] == 0.123457


def test_csv_writes_no_negative_zero(tmp_path):
    write_csv(tmp_path / "a.csv", pd.DataFrame({"x": [-0.0, 1.5], "name": ["a", "b"]}))
    assert (tmp_path / "a.csv").read_text() == "x,name\n0,a\n1.5,b\n"


def test_key_order_is_kept_when_asked(tmp_path):
    write_json(tmp_path / "h.json", {"rank_ic": 0.1, "margin": 0.02}, sort_keys=False)
    assert list(json.loads((tmp_path / "h.json").read_text())) == ["rank_ic", "margin"]


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_rounding_is_idempotent_and_within_six_digits(value):
    once = stable_numbers(value)
    assert stable_numbers(once) == once and str(once) != "-0.0"
    assert abs(once - value) <= 5e-6 * abs(value) + 1e-300
