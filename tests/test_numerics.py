"""The CPU's numeric code paths are pinned, so every x86-64 machine computes the same bits."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

from invest import numerics
from invest.data.store import WRITER_VERSION_OFFSET, WRITER_VERSION_STAMP


def test_pin_sets_every_variable_and_keeps_a_users_choice():
    code = (
        "import os, json; os.environ['ATEN_CPU_CAPABILITY'] = 'avx512'; import invest; "
        "from numpy._core._multiarray_umath import __cpu_features__ as f; "
        "print(json.dumps({k: os.environ.get(k) for k in invest.numerics.PINNED} | {'v4': f.get('X86_V4')}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in numerics.PINNED}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    seen = json.loads(out)
    assert seen.pop("ATEN_CPU_CAPABILITY") == "avx512"  # set before import invest: kept
    assert seen.pop("v4") is False  # numpy loaded after the pin: its AVX-512 loops are off
    assert seen == {k: v for k, v in numerics.PINNED.items() if k != "ATEN_CPU_CAPABILITY"}


def test_store_header_carries_a_fixed_writer_stamp(small_store):
    header = small_store.read_bytes()[:100]
    assert header[WRITER_VERSION_OFFSET : WRITER_VERSION_OFFSET + 4] == WRITER_VERSION_STAMP
    connection = sqlite3.connect(f"file:{small_store}?mode=ro", uri=True)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        connection.close()
