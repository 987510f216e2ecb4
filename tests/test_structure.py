"""Meta-tests that keep the layout honest: dvc.yaml, modules, layers, params and CLI agree."""

import ast
import importlib
from pathlib import Path

import typer.testing
import yaml
from tests.conftest import REPO

from invest import cli, params
from invest.modelling.provenance import module_closure

PIPELINE = yaml.safe_load((REPO / "dvc.yaml").read_text())
STAGES = ("check", "fetch", "validate", "cache", "splits", "train", "evaluate")
PACKAGE = REPO / "src" / "invest"
ALWAYS = {"src/invest/numerics.py"}  # imported by `import invest` itself: it pins the numerics of every stage
# Who may import whom (docs/architecture.md): each library layer only itself and the layers below;
# stages and commands sit on top of everything.
LAYERS = ("base", "data", "modelling", "evaluation", "commands")
BASE = {"errors", "params", "io", "numerics", "pipeline"}


def kind(module: str) -> str:
    """The layer of ``invest.<name>...`` (the package itself is the public facade, on top)."""
    name = module.split(".")[1] if "." in module else "commands"
    return name if name in LAYERS else "base" if name in BASE else "commands"


def test_dvc_yaml_deps_are_what_scripts_stage_deps_writes():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(REPO / "scripts" / "stage_deps.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_no_stage_lists_a_dependency_twice():
    for name, stage in PIPELINE["stages"].items():
        deps = stage["deps"]
        assert len(deps) == len(set(deps)), f"{name}: {sorted(d for d in set(deps) if deps.count(d) > 1)}"


def code_deps(stage: str) -> set[str]:
    return {dep for dep in PIPELINE["stages"][stage]["deps"] if dep.startswith("src/")}


def test_stages_are_in_order_and_each_has_a_module_with_main():
    assert tuple(PIPELINE["stages"]) == STAGES
    for stage in STAGES:
        module = importlib.import_module(f"invest.{stage}")
        assert callable(module.main)
        assert PIPELINE["stages"][stage]["cmd"].startswith(f"invest {stage}")
        assert isinstance(module.SECTIONS, tuple) and module.SECTIONS


def test_each_stage_reads_its_own_params_section():
    for stage in STAGES:
        section = {"fetch": "data", "splits": "train", "check": "params.yaml"}.get(stage, stage)
        listed = [next(iter(item)) if isinstance(item, dict) else item for item in PIPELINE["stages"][stage]["params"]]
        assert section in listed
    assert set(params.Params.__dataclass_fields__) == {"data", "validate", "cache", "train", "evaluate"}


def test_a_stage_that_reads_an_undeclared_section_fails_at_once():
    """`invest <stage>` hands a stage only the sections dvc.yaml lists for it (scripts/stage_deps.py --check
    keeps SECTIONS and dvc.yaml equal), so a read DVC would not track cannot go unnoticed."""
    import pytest

    scoped = params.scoped(params.from_dict({}), ("train",), "invest.train")
    assert scoped.train.seed == 42
    with pytest.raises(RuntimeError, match=r"invest.train reads params.evaluate.n_jobs but declares only train"):
        _ = scoped.evaluate.n_jobs


def test_the_check_stage_comes_first_and_the_splits_stage_guards_train_and_evaluate():
    """DVC removes a stage's outputs before running it: the guards must run before anything is removed."""
    stages = PIPELINE["stages"]
    assert "metrics/check.json" in stages["fetch"]["deps"]
    assert stages["check"]["params"] == [{"params.yaml": None}]
    assert "metrics/splits/train.json" in stages["train"]["deps"]
    assert "metrics/splits/evaluate.json" in stages["evaluate"]["deps"]
    for guard, outs in (
        ("check", ["metrics/check.json"]),
        ("splits", ["metrics/splits/train.json", "metrics/splits/evaluate.json"]),
    ):
        for out in stages[guard]["outs"]:
            name, options = next(iter(out.items()))
            assert name in outs and options == {"cache": False, "persist": True}


def test_the_dataclass_defaults_are_params_yaml():
    """params.yaml is the documented default; a dataclass default that drifted would change what tests and
    `invest predict` without a params.yaml use."""
    written = yaml.safe_load((REPO / "params.yaml").read_text())
    defaults = params.to_dict(params.from_dict({}))
    assert defaults == params.to_dict(params.from_dict(written))
    for section, values in written.items():
        assert set(values) == set(defaults[section]), section


def test_the_horizons_params_allows_are_the_ones_the_store_holds():
    import typing

    from invest.data.features import HORIZONS

    assert typing.get_args(typing.get_type_hints(params.TrainParams)["horizon"]) == tuple(HORIZONS)
    assert all(params.months(name) == months for name, months in HORIZONS.items())


def test_stage_deps_are_exactly_the_modules_the_stage_imports():
    """If editing a module a stage imports doesn't rerun the stage, the lockfile lies; a dep it does
    not import reruns it for nothing."""
    for stage in STAGES:  # params/errors/cli changes are config-level (provenance.SHARED_MODULES)
        files = {str(path.relative_to(REPO)) for path in module_closure(f"invest.{stage}", PACKAGE).values()}
        deps = code_deps(stage)
        covered = {f for f in files if any(f == dep or f.startswith(dep + "/") for dep in deps)}
        assert covered == files, f"stage {stage} imports {sorted(files - covered)} but dvc.yaml does not list them in deps"
        for dep in deps - ALWAYS:
            inside = [f for f in files if f == dep or f.startswith(dep + "/")]
            assert inside, f"stage {stage} lists {dep} in deps but never imports it"
            if (REPO / dep).is_dir():
                every = {str(p.relative_to(REPO)) for p in (REPO / dep).rglob("*.py")}
                assert every <= files, f"stage {stage} lists the folder {dep} but imports only part of it"
        assert ALWAYS <= deps


def _imports(path: Path) -> set[str]:
    """invest modules a file imports at run time (not under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text())
    hidden = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("invest"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("invest"))
    return found


def test_no_stage_imports_another_stage_and_libraries_import_only_lower_layers():
    stages = {f"invest.{stage}" for stage in STAGES}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        imported = {name for name in _imports(path) if name != "invest"}
        if module in stages:
            others = (stages - {module}) & imported
            assert not others, f"stage {module} imports {sorted(others)}: move what they share into a library module"
        rank = LAYERS.index(kind(module))
        above = sorted(name for name in imported if LAYERS.index(kind(name)) > rank)
        assert not above, f"{module} ({kind(module)} layer) imports {above} from a layer above it"


def test_every_cli_command_has_help():
    runner = typer.testing.CliRunner()
    for command in cli.app.registered_commands:
        assert command.callback.__doc__, f"command {command.callback.__name__} lacks help text"
    assert runner.invoke(cli.app, ["--help"]).exit_code == 0


def test_no_outputs_or_data_are_tracked_by_git():
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert not [f for f in tracked if f.endswith((".pt", ".db", ".parquet"))]


def test_modules_and_functions_stay_small():
    """No module over ~350 lines and no function over ~60 (docs/architecture.md names the exceptions)."""
    # params: one frozen dataclass per params.yaml section with its range checks; market: the simulator,
    # whose docstring documents the generating process and whose historical paths are data tables
    exceptions = {"invest/params.py", "invest/data/market.py"}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = str(path.relative_to(PACKAGE.parent))
        lines = path.read_text().count("\n")
        assert lines <= 360 or name in exceptions, f"{name} has {lines} lines"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= 62, f"{name}: {node.name} is {length} lines long"
