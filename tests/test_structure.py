"""Meta-tests that keep the layout honest: dvc.yaml, modules, params and CLI agree."""

import importlib

import typer.testing
import yaml
from tests.conftest import REPO

from invest import cli, params
from invest.provenance import module_closure

PIPELINE = yaml.safe_load((REPO / "dvc.yaml").read_text())
STAGES = ("fetch", "validate", "cache", "train", "evaluate")


def test_stages_are_in_order_and_each_has_a_module_with_main():
    assert tuple(PIPELINE["stages"]) == STAGES
    for stage in STAGES:
        module = importlib.import_module(f"invest.{stage}")
        assert callable(module.main)
        assert PIPELINE["stages"][stage]["cmd"].startswith(f"invest {stage}")


def test_each_stage_reads_its_own_params_section():
    for stage in STAGES:
        section = {"fetch": "data"}.get(stage, stage)
        assert section in PIPELINE["stages"][stage]["params"]
    assert set(params.Params.__dataclass_fields__) == {"data", "validate", "cache", "train", "evaluate"}


def test_stage_deps_cover_every_module_the_stage_imports():
    """If editing a module a stage imports doesn't rerun the stage, the lockfile lies."""
    for stage in STAGES:  # params/errors/cli changes are config-level (provenance.SHARED_MODULES)
        deps = PIPELINE["stages"][stage]["deps"]
        for module in module_closure(f"invest.{stage}", REPO / "src" / "invest"):
            relative = "src/" + module.replace(".", "/")
            covered = any(dep == relative + ".py" or relative.startswith(dep + "/") or dep == relative for dep in deps)
            assert covered, f"stage {stage} imports {module} but dvc.yaml does not list it in deps"


def test_every_cli_command_has_help():
    runner = typer.testing.CliRunner()
    for command in cli.app.registered_commands:
        assert command.callback.__doc__, f"command {command.callback.__name__} lacks help text"
    assert runner.invoke(cli.app, ["--help"]).exit_code == 0


def test_no_outputs_or_data_are_tracked_by_git():
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert not [f for f in tracked if f.endswith((".pt", ".db", ".parquet"))]
