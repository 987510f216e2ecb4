#!/usr/bin/env python3
"""Rewrite the `src/` deps of every stage in dvc.yaml from the modules each stage imports.

    python scripts/stage_deps.py          # rewrite dvc.yaml in place
    python scripts/stage_deps.py --check  # exit 1 if dvc.yaml is out of date (tests/test_structure.py checks too)

A stage's deps are exactly the modules it imports (invest.modelling.provenance.module_closure),
plus invest/numerics.py, which `import invest` runs for every stage; a folder stands for all its
modules when the stage imports every one of them. Its `params:` are exactly the params.yaml
sections its module declares in ``SECTIONS`` (every section: `- params.yaml:`, the whole file);
`invest <stage>` hands the stage only those sections, so reading another one fails at once.
--check compares both; the rewrite touches only the src deps (params lines carry comments).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from invest.modelling.provenance import module_closure  # noqa: E402

NUMERICS = "src/invest/numerics.py  # pins the CPU's numeric code paths (docs/reproducibility.md)"


def stage_deps(stage: str) -> list[str]:
    files = sorted(str(path.relative_to(REPO)) for path in module_closure(f"invest.{stage}", REPO / "src" / "invest").values())
    folders = sorted({str(Path(f).parent) for f in files}, key=len)
    for folder in folders:
        every = {str(p.relative_to(REPO)) for p in (REPO / folder).rglob("*.py")}
        if (
            folder != "src/invest"
            and every <= set(files)
            and not any(f.startswith(folder + "/") for f in files if f not in every)
        ):
            files = [f for f in files if not f.startswith(folder + "/")] + [folder]
    return [NUMERICS, *sorted(f for f in files if f != "src/invest/numerics.py")]


def rewrite(text: str) -> str:
    lines, out, stage, written = text.splitlines(), [], None, set()
    for line in lines:
        header = re.match(r"^  ([a-z_]+):$", line)
        if header:
            stage = header.group(1)
        if stage and re.match(r"^      - src/", line):
            if stage not in written:  # once per stage, however many src/ lines it had (a merge can double them)
                out.extend(f"      - {dep}" for dep in stage_deps(stage))
                written.add(stage)
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def params_mismatches(text: str) -> list[str]:
    """A line per stage whose dvc.yaml params are not the sections its module declares."""
    import importlib

    import yaml

    from invest.params import Params

    every = tuple(Params.__dataclass_fields__)
    problems = []
    for stage, spec in (yaml.safe_load(text).get("stages") or {}).items():
        declared = tuple(importlib.import_module(f"invest.{stage}").SECTIONS)
        listed = [next(iter(item)) if isinstance(item, dict) else item for item in spec.get("params") or []]
        wanted = ["params.yaml"] if set(declared) == set(every) else sorted(declared)
        if sorted(listed) != sorted(wanted):
            problems.append(f"dvc.yaml: stage {stage} lists params {listed} but its module reads {wanted} (SECTIONS)")
    return problems


def main() -> int:
    path = REPO / "dvc.yaml"
    text = path.read_text()
    new = rewrite(text)
    if "--check" in sys.argv:
        problems = params_mismatches(text)
        if new != text:
            problems.insert(0, "dvc.yaml: stage deps are out of date; run python scripts/stage_deps.py")
        if problems:
            print("\n".join(problems))
        return 1 if problems else 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
