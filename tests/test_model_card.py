import json

import pandas as pd
import pytest
import yaml
from tests.conftest import REPO
from tests.tiny_pipeline import TINY_PARAMS, build_store, train_and_evaluate

from invest.errors import DataError
from invest.evaluation import model_card, predictors, scoring
from invest.evaluation.scoring import Evaluation
from invest.modelling import checkpoint
from invest.params import from_dict


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("card")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(base)
        model = train_and_evaluate(base, build_store(base))
    return model.parent


def _read(path):
    return json.loads(path.read_text())


def test_train_writes_the_description_from_the_checkpoint(run):
    card = _read(run / "model_card.train.json")
    ckpt = checkpoint.load(run / "model.pt")
    assert card["status"] == "trained" and card["evaluation"] is None
    assert card["artifact"] == "stock-model"
    assert card["model"]["config"] == ckpt["model_config"]
    assert card["model"]["parameters"] == sum(t.numel() for t in ckpt["state_dicts"][0].values())
    assert card["model"]["ensemble_size"] == len(ckpt["state_dicts"]) == 2
    assert card["features"]["static"] == ckpt["static_features"]
    assert card["features"]["n_temporal"] == len(ckpt["temporal_features"])
    assert card["features"]["schema"]["hash"] == ckpt["feature_schema"]["hash"]
    assert card["target"] == {
        "horizon": "6m", "kind": "excess", "column": "fwd_exc_6m", "seq_len": 6, "feature_norm": "robust", "label_transform": "none",
    }  # fmt: skip
    assert card["split"] == ckpt["split"]
    meta = ckpt["metadata"]
    assert card["training"]["samples"] == meta["samples"] and card["training"]["period"] == meta["training_period"]
    assert card["provenance"] == {
        key: meta[key]
        for key in ("git_commit", "created", "code_hash", "code_dirty", "data_hash", "package_version", "torch_version")
    }
    assert card["params"]["train"]["hidden_size"] == 8
    if "intervals" in ckpt:
        assert card["intervals"]["levels"] == ckpt["intervals"]["levels"]


def test_evaluate_completes_the_card_with_headline_metrics(run):
    card = _read(run / "model_card.json")
    summary = _read(run / "metrics" / "eval.json")
    evaluation = card["evaluation"]
    assert card["status"] == "evaluated"
    assert evaluation["mode"] == "single"
    assert evaluation["rows"] == summary["rows"] and evaluation["dates"] == summary["dates"]
    assert evaluation["model"]["rank_ic"] == summary["model_rank_ic"]
    assert evaluation["model"]["mae"] == summary["model_mae"]
    assert evaluation["oracle_share"] == summary["model_share_of_oracle_ic"]
    assert evaluation["baselines"]["ridge"]["mae"] == summary["ridge_mae"]
    margin = evaluation["margins"]["momentum"]["rank_ic"]
    assert margin == {
        "diff": summary["margin_vs_momentum_rank_ic"],
        "ci_low": summary["margin_vs_momentum_rank_ic_lo"],
        "ci_high": summary["margin_vs_momentum_rank_ic_hi"],
    }
    assert set(evaluation["by_year"]) == {"2015", "2016"}
    # the description is the train card's, rebuilt from the same checkpoint
    train_card = _read(run / "model_card.train.json")
    strip = {"status", "evaluation"}
    assert {k: v for k, v in card.items() if k not in strip} == {k: v for k, v in train_card.items() if k not in strip}


def tiny_evaluation(**model_scores: float) -> Evaluation:
    """An Evaluation of two predictions with the given scores for the network."""
    frame = pd.DataFrame({"date": pd.to_datetime(["2020-01-31", "2020-02-29"]), "model": [0.1, 0.2]})
    return Evaluation(
        frame=frame,
        predictors=["model"],
        baselines=[],
        scores=pd.DataFrame({key: [value] for key, value in model_scores.items()}, index=["model"]).reindex(
            columns=list(model_card.MODEL_KEYS)
        ),
        base_rates={"base_rate": 0.5},
        margins=pd.DataFrame(columns=["rank_ic", "rank_ic_lo", "rank_ic_hi", "mae", "mae_lo", "mae_hi"]),
        by_year=pd.DataFrame({"rows": [2], "model_rank_ic": [model_scores.get("rank_ic")], "model_mae": [0.2]}, index=[2020]),
        coverage=None,
        confidence=None,
    )


def test_the_card_is_deterministic(run, tmp_path):
    ckpt = checkpoint.load(run / "model.pt")
    model_card.write_card(tmp_path / "a.json", ckpt)
    model_card.write_card(tmp_path / "b.json", checkpoint.load(run / "model.pt"))
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.json").read_bytes() == (run / "model_card.train.json").read_bytes()
    frame = pd.read_csv(run / "metrics" / "predictions.csv", parse_dates=["date"])
    params = from_dict(TINY_PARAMS)
    for name in ("c", "d"):
        evaluation = scoring.evaluate_predictions(frame, predictors.baseline_names(), params)
        model_card.complete_card(tmp_path / f"{name}.json", evaluation, ckpt, params.evaluate)
    assert (tmp_path / "c.json").read_bytes() == (tmp_path / "d.json").read_bytes()


def test_complete_card_without_a_checkpoint_reads_the_existing_card(run, tmp_path):
    card = tmp_path / "card.json"
    card.write_bytes((run / "model_card.train.json").read_bytes())
    done = model_card.complete_card(card, tiny_evaluation(rank_ic=0.1, mae=0.2))
    assert done["status"] == "evaluated" and done["evaluation"]["model"]["rank_ic"] == 0.1
    assert done["evaluation"]["model"]["mae"] == 0.2 and done["evaluation"]["rows"] == 2
    assert not any("oracle" in key for key in done["evaluation"])  # real data has no oracle: the card says nothing of one
    assert _read(card) == done
    with pytest.raises(DataError, match="not found"):
        model_card.complete_card(tmp_path / "missing.json", tiny_evaluation())


def test_non_finite_values_become_null(run, tmp_path):
    ckpt = checkpoint.load(run / "model.pt")
    done = model_card.complete_card(tmp_path / "c.json", tiny_evaluation(rank_ic=float("nan")), ckpt)
    assert done["evaluation"]["model"]["rank_ic"] is None
    assert "NaN" not in (tmp_path / "c.json").read_text()


def test_dvc_yaml_gives_each_card_one_owner_and_declares_the_artifact():
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())

    def outs(stage):
        spec = pipeline["stages"][stage]
        return {
            next(iter(o)) if isinstance(o, dict) else o: (o if isinstance(o, dict) else {})
            for section in ("outs", "metrics")
            for o in spec.get(section, [])
        }

    owners = {}
    for stage in pipeline["stages"]:
        for path in outs(stage):
            assert path not in owners, f"{path} is an output of {owners[path]} and {stage}"
            owners[path] = stage
    assert owners["models/model_card.train.json"] == "train"
    assert owners["models/model_card.json"] == "evaluate"
    assert outs("evaluate")["models/model_card.json"]["models/model_card.json"] == {"cache": False}
    assert "models/model_card.json" not in [next(iter(m)) for m in pipeline["stages"]["evaluate"].get("metrics", [])]
    artifact = pipeline["artifacts"]["stock-model"]
    assert artifact["path"] == "models/model.pt" and artifact["type"] == "model"
    assert owners[artifact["path"]] == "train"
