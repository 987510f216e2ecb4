import torch

from invest.modelling.model import LSTMTransformerNetwork, ModelConfig
from invest.params import TrainParams


def network_for(temporal_features: int, static_features: int, **train) -> LSTMTransformerNetwork:
    """The network as training builds it: its shape from train.* params (defaults in one place)."""
    return LSTMTransformerNetwork.from_config(ModelConfig.from_params(TrainParams(**train), temporal_features, static_features))


def test_forward_shapes_and_config_round_trip():
    network = network_for(12, 37, hidden_size=16, attention_heads=4)
    out = network(torch.randn(5, 12, 12), torch.randn(5, 37))
    assert out.shape == (5,)
    clone = LSTMTransformerNetwork.from_config(network.config.to_dict())
    assert isinstance(clone.config, ModelConfig) and clone.config == network.config


def test_plain_construction_and_load_state_dict_still_work():
    """The documented way: build from the params' defaults and the feature counts, then load the weights."""
    trained = network_for(11, 22)
    fresh = network_for(11, 22)
    fresh.load_state_dict(trained.state_dict())
    fresh.eval(), trained.eval()
    x, s = torch.randn(3, 12, 11), torch.randn(3, 22)
    assert torch.equal(fresh(x, s), trained(x, s))


def test_attention_sees_the_whole_sequence():
    """Changing an early time step must change the output (the old model attended over length 1)."""
    torch.manual_seed(0)
    network = network_for(4, 3, hidden_size=8, attention_heads=2).eval()
    past, static = torch.randn(1, 10, 4), torch.randn(1, 3)
    changed = past.clone()
    changed[0, 0] += 3.0
    assert not torch.allclose(network(past, static), network(changed, static))
    assert network.transformer.layers[0].self_attn.batch_first
