"""Stage ``validate``: check the raw tables and write ``metrics/data_quality.json``.

Critical problems stop the pipeline (exit 1, a short summary); warnings and notes (what the data
does not provide) are only reported. Thresholds live in the ``validate`` section of params.yaml.
"""

from __future__ import annotations

import os
import sys

from invest.data.checks import run_checks
from invest.data.raw import read_raw
from invest.errors import DataError
from invest.io import write_json
from invest.params import Params

SECTIONS = ("validate",)


def main(params: Params, *, raw_dir: str | os.PathLike[str], report_path: str | os.PathLike[str]) -> None:
    findings = run_checks(read_raw(raw_dir), params.validate)
    report = {
        "ok": not findings.critical,
        "critical": findings.critical,
        "warnings": findings.warnings,
        "notes": findings.notes,
        **findings.stats,
    }
    write_json(report_path, report)
    for note in findings.notes:
        print(f"validate: note: {note}", file=sys.stderr)
    for warning in findings.warnings:
        print(f"validate: warning: {warning}", file=sys.stderr)
    if findings.critical:
        summary = "; ".join(findings.critical[:3]) + (
            f" (+{len(findings.critical) - 3} more)" if len(findings.critical) > 3 else ""
        )
        raise DataError(f"raw data failed validation: {summary}. Details in {report_path}")
    print(
        f"validate: ok ({findings.stats['tickers']} tickers, {findings.stats['price_rows']:,} price rows, "
        f"{len(findings.warnings)} warnings, {len(findings.notes)} notes) -> {report_path}",
        file=sys.stderr,
    )
