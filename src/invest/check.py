"""Stage ``check``: every section of params.yaml, checked before any other stage runs.

DVC removes a stage's outputs before it runs the stage, so a typo found by ``train`` itself
(``train.epochs: ten``) would already have cost ``models/model.pt`` and the committed metrics.
This stage depends on the whole of params.yaml and every other stage runs after it: an invalid
value stops ``dvc repro`` here, with one line naming the key, before anything is removed. Its
report never changes with the values (it says which sections were checked), so passing the
check never reruns a stage by itself; it is kept when the check fails (``persist`` in dvc.yaml).
"""

from __future__ import annotations

import dataclasses
import os
import sys

from invest.data.sources import registry
from invest.io import write_json
from invest.params import Params

SECTIONS = ("data", "validate", "cache", "train", "evaluate")


def main(params: Params, *, report_path: str | os.PathLike[str]) -> None:
    """``params`` arrive loaded (types, ranges, unknown keys); here the rules that need the layers below."""
    registry.check(params.data)
    checked = [field.name for field in dataclasses.fields(params)]
    write_json(report_path, {"checked": checked, "ok": True}, sort_keys=False)
    print(f"check: params.yaml ok ({', '.join(checked)})", file=sys.stderr)
