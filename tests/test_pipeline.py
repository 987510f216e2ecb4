"""End to end: the real `dvc repro` in a temporary git repository on a small universe."""

import json
from pathlib import Path

import pytest
import yaml
from tests.conftest import COMPARE, HEADLINE, SMALL_PARAMS, make_dvc_repo, run

pytestmark = pytest.mark.slow


def _ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = make_dvc_repo(tmp_path_factory.mktemp("pipeline") / "repo")
    result = run(["dvc", "repro"], path)
    assert _ran(result.stdout) == {"check", "fetch", "validate", "cache", "splits", "train", "evaluate"}
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-q", "-m", "repro"], path)
    return path


def test_repro_builds_every_output(repo):
    for output in (
        "data/raw/prices.parquet",
        "data/stock_data.db",
        "models/model.pt",
        "metrics/eval.json",
        "metrics/data_quality.json",
        "metrics/train.json",
        "evaluation/report.md",
        "dvc.lock",
    ):
        assert (repo / output).exists(), output
    summary = json.loads((repo / "metrics" / "eval.json").read_text())
    assert summary["model_rank_ic"] is not None and summary["oracle_rank_ic"] is not None
    ignored = run(["git", "status", "--porcelain", "--ignored"], repo).stdout
    for output in ("data/raw", "data/stock_data.db", "models/model.pt"):
        assert output in ignored  # outputs belong to DVC, not git


def test_second_repro_runs_nothing(repo):
    result = run(["dvc", "repro"], repo)
    assert _ran(result.stdout) == set()
    assert "Data and pipelines are up to date." in run(["dvc", "status"], repo).stdout


def test_a_train_param_reruns_only_train_and_evaluate(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["learning_rate"] = 0.002
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        # the guards rerun too (seconds): check for every params change, splits for train's and evaluate's
        assert _ran(run(["dvc", "repro"], repo).stdout) == {"check", "splits", "train", "evaluate"}
    finally:
        run(["git", "checkout", "--", "."], repo)  # params, lock and the git-tracked (cache: false) outputs
        run(["dvc", "checkout", "-q"], repo, check=False)
    assert "Data and pipelines are up to date." in run(["dvc", "status"], repo).stdout


def _outputs(repo: Path) -> dict[str, bytes]:
    """Every output's bytes: what a failed run must leave exactly as it was."""
    files = [f for d in ("data", "models", "metrics", "evaluation") for f in (repo / d).rglob("*") if f.is_file()]
    return {str(f.relative_to(repo)): f.read_bytes() for f in files}


BAD_PARAMS = [  # one invalid value per section, and the dates only the store can judge
    ("data", "n_tickers", "many", "params: data.n_tickers = 'many' has the wrong type; expected an integer"),
    ("validate", "max_jump", -1, "params: validate.max_jump = -1.0 is out of range; allowed: a positive log return"),
    ("cache", "min_price", -5, "params: cache.min_price = -5.0 is out of range; allowed: 0 or more"),
    ("train", "epochs", "ten", "params: train.epochs = 'ten' has the wrong type; expected an integer"),
    ("train", "lerning_rate", 0.01, "params: unknown key train.lerning_rate (did you mean 'learning_rate'?)"),
    ("evaluate", "n_buckets", 1, "params: evaluate.n_buckets = 1 is out of range; allowed: 2 to 100"),
    ("evaluate", "test_years", [2030], "evaluate.test_years: 2030 has no labelled snapshots (1y returns; labelled snapshots run"),
    (
        "train",
        "train_end",
        "2009-06-30",
        "train.train_end / train.val_end: only 0 labelled 1y rows for training (up to 2009-06-30;",
    ),
]


@pytest.mark.parametrize(("section", "key", "value", "message"), BAD_PARAMS, ids=[f"{s}.{k}" for s, k, *_ in BAD_PARAMS])
def test_an_invalid_param_costs_no_output(repo, section, key, value, message):
    """DVC removes a stage's outputs before running it: the check and splits stages run first, so a typo
    stops `dvc repro` before anything is removed, with one line naming the key."""
    before = _outputs(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[section][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        result = run(["dvc", "repro"], repo, check=False)
        assert result.returncode != 0
        assert message in result.stdout + result.stderr
        assert _ran(result.stdout) <= {"check", "splits"}
        assert _outputs(repo) == before
    finally:
        run(["git", "checkout", "--", "params.yaml"], repo)
    # a check that passed before a later one failed has recorded its params in dvc.lock: it alone reruns
    assert _ran(run(["dvc", "repro"], repo).stdout) <= {"check"}
    run(["git", "checkout", "--", "dvc.lock"], repo)
    assert "Data and pipelines are up to date." in run(["dvc", "status"], repo).stdout
    assert _outputs(repo) == before


def test_push_then_pull_in_another_clone_needs_no_rerun(repo, tmp_path):
    """The project's own outputs travel through a DVC remote (a local directory here; SSH/S3 in test_remotes.py)."""
    run(["dvc", "remote", "add", "-d", "storage", str(tmp_path / "remote")], repo)
    run(["git", "commit", "-q", "-am", "default remote"], repo)
    run(["dvc", "push"], repo)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    run(["dvc", "pull"], clone)
    assert "Data and pipelines are up to date." in run(["dvc", "status"], clone).stdout
    assert _ran(run(["dvc", "repro"], clone).stdout) == set()
    for output in ("data/raw/prices.parquet", "data/stock_data.db", "models/model.pt", "metrics/predictions.csv"):
        assert (clone / output).read_bytes() == (repo / output).read_bytes(), output


def test_an_experiment_is_listed_and_diffable(repo):
    run(["dvc", "exp", "run", "-S", "train.epochs=3", "-n", "three-epochs"], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    names = json.dumps(shown)
    assert "three-epochs" in names
    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD", "three-epochs", "--json", "--all"], repo).stdout)
    assert list(diff) == ["metrics/headline.json"] and set(diff["metrics/headline.json"]) == set(HEADLINE)
    detail = json.loads(
        run(["dvc", "metrics", "diff", "HEAD", "three-epochs", "--json", "--targets", "metrics/train.json"], repo).stdout
    )
    assert detail["metrics/train.json"]["epochs_run"] == {"old": 2, "new": 3, "diff": 1}  # the detail: one target away
    params_diff = run(["dvc", "params", "diff", "HEAD", "three-epochs", "--json"], repo).stdout
    assert "train.epochs" in params_diff
    # what `dvc exp show` lists, `invest compare` and `invest metrics` take
    compared = run(["invest", "compare", "three-epochs", "models/model.pt"], repo).stdout
    assert compared.startswith("A: three-epochs (") and "B: models/model.pt" in compared
    assert "rank IC" in run(["invest", "metrics", "--rev", "three-epochs"], repo).stdout


def test_the_readme_shows_the_comparison_command_the_tests_check():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert " ".join(COMPARE[:-1]) + " 'State|Executor|models/'" in readme


def test_editing_your_own_files_reruns_fetch_and_everything_after_it(tmp_path, small_tables):
    """data.source: files with a folder of per-ticker CSVs outside the repository (data.files_dir)."""
    files = tmp_path / "my-data"
    (files / "prices").mkdir(parents=True)
    prices = small_tables["prices"]
    for ticker, rows in prices[prices["ticker"] < "S008"].groupby("ticker"):
        yahoo = rows.rename(columns={"date": "Date", "close": "Close", "adj_close": "Adj Close"})[["Date", "Close", "Adj Close"]]
        yahoo.to_csv(files / "prices" / f"{ticker}.csv", index=False)
    index = small_tables["market"][["date", "index_close"]]
    index.to_csv(files / "index.csv", index=False)
    data = {
        "source": "files",
        "files_dir": str(files),
        "files_layout": "per_ticker",
        "files_market": {"index_close": "index.csv"},
    }
    params = {**SMALL_PARAMS, "data": {**SMALL_PARAMS["data"], **data}}
    repo = make_dvc_repo(tmp_path / "repo", params)
    assert _ran(run(["dvc", "repro"], repo).stdout) == {"check", "fetch", "validate", "cache", "splits", "train", "evaluate"}
    assert _ran(run(["dvc", "repro"], repo).stdout) == set()
    edited = (files / "prices" / "S003.csv").read_text().splitlines()
    date, close, adj = edited[400].split(",")
    edited[400] = f"{date},{float(close) * 1.5},{float(adj) * 1.5}"  # one corrected price
    (files / "prices" / "S003.csv").write_text("\n".join(edited) + "\n")
    assert "my-data" in run(["dvc", "status"], repo).stdout  # the folder is a dependency
    assert _ran(run(["dvc", "repro"], repo).stdout) == {"fetch", "validate", "cache", "splits", "train", "evaluate"}
