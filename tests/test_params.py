import dataclasses

import pytest
import yaml
from tests.conftest import REPO

from invest import params
from invest.errors import ConfigError


def test_repository_params_load_and_match_the_dataclasses():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    loaded = params.load(REPO / "params.yaml")
    for section, values in raw.items():
        fields = {f.name for f in dataclasses.fields(getattr(loaded, section))}
        assert set(values) == fields, f"params.yaml [{section}] and its dataclass disagree"


def test_defaults_are_valid():
    assert params.from_dict({}).train.device == "auto"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"train": {"lr": 0.1}}, "unknown key train.lr; allowed keys:"),
        ({"trian": {}}, "unknown section 'trian'"),
        ({"train": {"epochs": "ten"}}, "train.epochs = 'ten' has the wrong type; expected an integer"),
        ({"train": {"epochs": True}}, "train.epochs = True has the wrong type"),
        ({"train": {"learning_rate": 0}}, "train.learning_rate = 0.0 is out of range"),
        ({"train": {"learning_rate": -0.1}}, "train.learning_rate = -0.1 is out of range"),
        ({"train": {"batch_size": 0}}, "train.batch_size = 0 is out of range"),
        ({"train": {"device": "quantum"}}, "train.device = 'quantum' is not allowed; choose one of auto, cpu, cuda, mps"),
        ({"train": {"horizon": "5y"}}, "train.horizon = '5y' is not allowed"),
        ({"train": {"embargo_months": 3}}, "train.embargo_months = 3 is out of range; allowed: at least the label horizon"),
        ({"train": {"hidden_size": 30, "attention_heads": 4}}, "train.attention_heads = 4 is out of range"),
        ({"train": {"train_end": "2020-01-01", "val_end": "2019-01-01"}}, "train.val_end"),
        ({"data": {"as_of": "yesterday"}}, "data.as_of = 'yesterday' is not a date"),
        ({"evaluate": {"test_years": []}}, "evaluate.test_years"),
        ({"evaluate": {"test_years": [2020, 2019]}}, "evaluate.test_years"),
        ({"evaluate": {"warm_start_shrink": 0}}, "evaluate.warm_start_shrink = 0.0 is out of range"),
        ({"evaluate": {"warm_start_shrink": 1.5}}, "evaluate.warm_start_shrink = 1.5 is out of range"),
        ([1, 2], "must be a mapping of sections"),
    ],
)
def test_bad_values_stop_with_one_line_naming_the_key(raw, message):
    with pytest.raises(ConfigError) as error:
        params.from_dict(raw)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_unquoted_yaml_dates_are_accepted(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data:\n  as_of: 2020-06-30\n")
    assert params.load(path).data.as_of == "2020-06-30"


def test_exponent_numbers_as_dvc_exp_run_writes_them_are_numbers(tmp_path):
    """`dvc exp run -S train.weight_decay=0.00001` writes 1e-05: YAML 1.2 reads a number, PyYAML (1.1) text."""
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  weight_decay: 1e-05\n  learning_rate: 2E-3\n")
    loaded = params.load(path).train
    assert loaded.weight_decay == 1e-05 and loaded.learning_rate == 0.002
    path.write_text("train:\n  learning_rate: 1e-05x\n")
    with pytest.raises(ConfigError, match="train.learning_rate"):
        params.load(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epochs: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        params.load(path)


def test_embargo_defaults_to_the_horizon():
    train = params.from_dict({"train": {"horizon": "2y"}}).train
    assert train.embargo == 24


def test_as_of_in_the_future_is_refused():
    import datetime as dt

    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    with pytest.raises(ConfigError, match=rf"data.as_of = '{tomorrow}' is out of range; allowed: a date up to today"):
        params.from_dict({"data": {"as_of": tomorrow}})


def test_data_source_is_text_here_and_the_source_registry_judges_it():
    from invest.data.sources import registry

    loaded = params.from_dict({"data": {"source": "yfinace", "fundamentals": "yahoo"}}).data
    assert loaded.source == "yfinace"  # the name and what it can serve: invest.data.sources.registry.check
    with pytest.raises(ConfigError, match=r"data.source = 'yfinace' is not allowed \(did you mean 'yfinance'\?\); choose one of"):
        registry.check(loaded)
    with pytest.raises(ConfigError, match="data.source = 3 has the wrong type; expected text"):
        params.from_dict({"data": {"source": 3}})
