"""The report's first paragraph states every ranking baseline, won or not."""

from __future__ import annotations

from invest import params as params_module
from invest.report import _headline


def summary(**margins: tuple[float, float, float]) -> dict:
    s = {
        "dates": 60,
        "rows": 5000,
        "model_rank_ic": 0.2,
        "model_rank_ic_t_nw": 5.0,
        "model_hit_rate": 0.58,
        "base_rate": 0.48,
        "best_constant_hit_rate": 0.52,
        "interval_80_coverage": 0.81,
        "mc_interval_80_coverage": 0.1,
    }
    for name, (diff, lo, hi) in margins.items():
        s[f"margin_vs_{name}_rank_ic"], s[f"margin_vs_{name}_rank_ic_lo"], s[f"margin_vs_{name}_rank_ic_hi"] = diff, lo, hi
    return s


def test_a_baseline_the_model_does_not_beat_is_said_so():
    text = _headline(
        summary(momentum=(0.2, 0.1, 0.3), ridge=(0.02, -0.01, 0.06), gbt=(-0.05, -0.08, -0.02)),
        params_module.from_dict({}),
    )
    assert "beats momentum by 0.200 rank IC" in text
    assert "is not distinguishable from ridge (rank IC margin 0.020, interval -0.010 to 0.060)" in text
    assert "loses to gbt by 0.050 rank IC" in text
    assert "81.0% at a nominal 80%" in text and "raw MC dropout: 10.0%" in text
