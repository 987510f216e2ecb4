import subprocess
import sys

import pytest
import yaml
from tests.conftest import invest_args


def invest(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invest", *invest_args(*args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_help_lists_every_stage(tmp_path):
    result = invest("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("check", "fetch", "validate", "cache", "splits", "train", "evaluate", "metrics"):
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
    assert "fetch it with `dvc repro fetch`" in result.stderr


def test_a_missing_output_dvc_can_give_back_says_how(tmp_path, monkeypatch):
    """After `dvc repro` removed an output (or a checkout lost it), the message names the command that restores
    it: the DVC cache's copy, the remote's, or git's for the metrics kept in git."""
    from invest import pipeline

    monkeypatch.chdir(tmp_path)
    lock = {
        "stages": {
            "train": {"outs": [{"path": "models/model.pt", "md5": "ab" + "c" * 30}, {"path": "metrics/train.json"}]},
            "cache": {"outs": [{"path": "data/stock_data.db", "md5": "de" + "f" * 30}]},
        }
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    pipeline.cached_object("ab" + "c" * 30).parent.mkdir(parents=True)
    pipeline.cached_object("ab" + "c" * 30).write_bytes(b"weights")
    assert pipeline.restore_hint("models/model.pt", "x") == (
        "restore it with `dvc checkout models/model.pt` (DVC's cache has it), or rebuild it with `dvc repro train`"
    )
    assert pipeline.restore_hint("data/stock_data.db", "x") == (
        "fetch it with `dvc pull data/stock_data.db` (from the DVC remote), or rebuild it with `dvc repro cache`"
    )
    assert pipeline.restore_hint("metrics/train.json", "x").startswith("restore it with `git checkout -- metrics/train.json`")
    assert pipeline.restore_hint("models/other.pt", "train a model") == "train a model"
    import shutil

    from tests.conftest import REPO

    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    result = invest("predict", cwd=tmp_path)  # `invest predict` after `dvc repro` removed the model
    assert result.stderr == (
        "Error: models/model.pt not found; restore it with `dvc checkout models/model.pt` (DVC's cache has it), "
        "or rebuild it with `dvc repro train`\n"
    )


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
