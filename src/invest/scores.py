"""``invest metrics``: every metric of ``metrics/eval.json`` as tables a person can read.

``dvc metrics show metrics/eval.json`` prints its few hundred keys as one row; this prints one row
per predictor (rank IC, its t, MAE, hit rate, the top book's net excess return), the model minus
each baseline with 95% intervals, interval coverage, and rank IC per test year. ``--rev`` reads
the file of a commit, branch, tag or DVC experiment (``dvc exp show`` lists them) instead of the
workspace's.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from invest.errors import DataError

PREDICTOR_COLUMNS = (  # eval.json key suffix, header, format
    ("rank_ic", "rank IC", "{:+.3f}"),
    ("rank_ic_t_nw", "t (NW)", "{:+.1f}"),
    ("mae", "MAE", "{:.4f}"),
    ("hit_rate", "hit rate", "{:.3f}"),
    ("quintile_spread", "Q5-Q1", "{:+.3f}"),
)
BOOK = "top_net_excess_index_ann"  # the long-only top book's net return over the index, a year


def load(path: str | Path = "metrics/eval.json", rev: str | None = None, repo: str = ".") -> dict[str, Any]:
    """eval.json's keys, from the workspace or from git revision ``rev`` (an experiment name works)."""
    if rev is None:
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"{path} not found; run `dvc repro` (or `git checkout -- {path}`)") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} is not valid JSON ({exc.msg}); rerun `dvc repro evaluate`") from None
    from invest.registry import revisions
    from invest.registry.common import RegistryError, git

    commit = revisions.commit_of(repo, rev)
    if commit is None:
        raise DataError(f"--rev {rev!r} names no commit, branch, tag or experiment (dvc exp show lists experiments)")
    try:
        return json.loads(git(repo, "show", f"{commit}:{Path(path).as_posix()}"))
    except RegistryError:
        raise DataError(f"{rev} ({commit[:8]}) has no {path}; was evaluate run there?") from None


def predictors(values: dict[str, Any]) -> list[str]:
    """The scored predictors in eval.json's order of appearance: the model, the baselines, the oracle."""
    names = [key.removesuffix("_rank_ic_t_nw") for key in values if key.endswith("_rank_ic_t_nw")]
    return sorted(names, key=lambda name: (name != "model", name == "oracle"))


def render(values: dict[str, Any]) -> str:
    names = predictors(values)
    if not names:
        raise DataError("this file holds no predictor scores (keys like model_rank_ic); is it metrics/eval.json?")
    blocks = [_predictor_table(values, names), _margin_table(values, names), _coverage_table(values), _year_table(values, names)]
    return "\n\n".join(block for block in blocks if block)


def _predictor_table(values: dict[str, Any], names: list[str]) -> str:
    header = ["predictor", *(title for _, title, _ in PREDICTOR_COLUMNS), "top book − index, net/yr"]
    rows = []
    for name in names:
        cells = [name] + [_fmt(values.get(f"{name}_{key}"), fmt) for key, _, fmt in PREDICTOR_COLUMNS]
        rows.append(cells + [_fmt(values.get(f"portfolio_{name}_{BOOK}"), "{:+.1%}")])
    title = f"Scores on {values.get('rows', '?')} test predictions, {values.get('dates', '?')} dates"
    if values.get("model_members_rank_ic_mean") is not None:
        title += (
            f" (one network alone: rank IC {values['model_members_rank_ic_mean']:+.3f} "
            f"± {values.get('model_members_rank_ic_sd') or 0:.3f})"
        )
    return title + "\n" + _table(header, rows)


def _margin_table(values: dict[str, Any], names: list[str]) -> str:
    rows = []
    for name in names:
        if f"margin_vs_{name}_mae" not in values:
            continue
        cells = [name]
        for key, fmt in (("rank_ic", "{:+.3f}"), ("mae", "{:+.4f}"), ("portfolio", "{:+.1%}")):
            diff, low, high = (values.get(f"margin_vs_{name}_{key}{end}") for end in ("", "_lo", "_hi"))
            cells.append("n/a" if diff is None else f"{fmt.format(diff)} [{_fmt(low, fmt)}, {_fmt(high, fmt)}]")
        rows.append(cells)
    if not rows:
        return ""
    header = ["model − baseline", "rank IC [95%]", "MAE [95%] (− = model better)", "top book net/yr [95%]"]
    return _table(header, rows)


def _coverage_table(values: dict[str, Any]) -> str:
    levels = sorted({m.group(1) for key in values if (m := re.fullmatch(r"interval_([\d.]+)_coverage", key))}, key=float)
    if not levels:
        return ""
    rows = [
        [
            f"{level}%",
            _fmt(values.get(f"interval_{level}_coverage"), "{:.3f}"),
            _fmt(values.get(f"interval_{level}_width"), "{:.3f}"),
            _fmt(values.get(f"mc_interval_{level}_coverage"), "{:.3f}"),
        ]
        for level in levels
    ]
    text = _table(["interval", "coverage", "mean width", "raw MC dropout coverage"], rows)
    if values.get("too_uncertain_share") is not None:
        text += f"\ntoo uncertain to act on: {values['too_uncertain_share']:.1%} of the predictions"
    return text


def _year_table(values: dict[str, Any], names: list[str]) -> str:
    years = sorted({m.group(1) for key in values if (m := re.fullmatch(r"y(\d{4})_rows", key))})
    if not years:
        return ""
    shown = [name for name in names if f"y{years[0]}_{name}_rank_ic" in values]
    rows = [
        [year, str(values.get(f"y{year}_rows", ""))] + [_fmt(values.get(f"y{year}_{n}_rank_ic"), "{:+.3f}") for n in shown]
        for year in years
    ]
    return "Rank IC by test year\n" + _table(["year", "rows", *shown], rows)


def _fmt(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return fmt.format(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
        for row in (header, *rows)
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])
