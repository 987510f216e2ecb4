import subprocess
import sys

import pytest
from tests.conftest import invest_args


def invest(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invest", *invest_args(*args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_help_lists_every_stage(tmp_path):
    result = invest("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("fetch", "validate", "cache", "train", "evaluate"):
        assert command in result.stdout


def test_a_bad_param_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "params.yaml").write_text("train:\n  learning_rate: -1\n")
    result = invest("train", cwd=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr == "Error: params: train.learning_rate = -1.0 is out of range; allowed: a positive number such as 0.001\n"
    )


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "params.yaml").write_text("train:\n  learning_rate: -1\n")
    result = invest("--debug", "train", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_missing_inputs_say_which_stage_to_run(tmp_path):
    (tmp_path / "params.yaml").write_text("{}\n")
    result = invest("cache", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "run `invest fetch` (or dvc repro) first" in result.stderr


def test_usage_errors_exit_2(tmp_path):
    result = invest("train", "--no-such-option", cwd=tmp_path)
    assert result.returncode == 2
    assert "No such option" in result.stderr


@pytest.mark.slow
def test_stages_run_in_order_from_the_command_line(tmp_path):
    import yaml
    from tests.conftest import SMALL_PARAMS

    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({**SMALL_PARAMS, "evaluate": {**SMALL_PARAMS["evaluate"], "mode": "single"}})
    )
    for stage in ("fetch", "validate", "cache", "train", "evaluate"):
        result = invest(stage, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "metrics" / "eval.json").exists()
    assert (tmp_path / "models" / "model.pt").exists()
