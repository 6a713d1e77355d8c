"""One method stack: the registry holds every method, for a built-in dataset and a user's model;
a method's samples are forward passes of a ``Network``, run by one loop (``run_passes``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.test_methods import CPU, FAST, _tiny_spec
from uqviz.inference import network_logits
from uqviz.labels import METHOD_LABELS
from uqviz.methods import (
    DATASET_METHOD_IDS,
    METHOD_IDS,
    METHODS,
    MODEL_METHOD_IDS,
    get_method,
)
from uqviz.methods.network import PLAIN, Pass, TorchNetwork, run_passes, to_probs
from uqviz.methods.tta import TTA_SAMPLES, augment, tta_augmentations
from uqviz.numerics import softmax
from uqviz.training import NetworkRecipe, TrainConfig, build_network


def test_one_registry_one_label_table():
    assert set(METHODS) == set(METHOD_LABELS) == set(METHOD_IDS) | set(MODEL_METHOD_IDS)
    for method_id, cls in METHODS.items():
        assert cls.id == method_id and cls.label == METHOD_LABELS[method_id]
    assert set(DATASET_METHOD_IDS) == set(METHOD_IDS) | {"tta"}
    assert MODEL_METHOD_IDS == ("softmax", "temperature", "tta", "mc_dropout", "ensemble")
    with pytest.raises(ValueError, match="runs only on your model files.*valid: softmax"):
        get_method("ensemble")


class CountingNetwork:
    """A real ``Network`` (a fixed linear map of the mean pixel per channel) that counts its
    plain and dropout-sampling passes; its dropout scales the logits by a seeded draw."""

    name, outputs = "linear", "logits"

    def __init__(self, weight: float) -> None:
        self.weight, self.plain, self.sampled, self._sampling = weight, 0, 0, False

    def run(self, x):
        logits = self.weight * x.mean(dim=(2, 3)).double().numpy()
        if self._sampling:
            self.sampled += 1
            return logits * float(torch.rand(())), None
        self.plain += 1
        return logits, logits[:, :1]

    def dropout_sampling(self):
        network = self

        class _On:
            def __enter__(self):
                network._sampling = True

            def __exit__(self, *exc):
                network._sampling = False

        return _On()


def test_run_passes_runs_each_distinct_pass_once_and_seeds_dropout_per_call():
    nets = [CountingNetwork(1.0), CountingNetwork(2.0)]
    augs = tta_augmentations(3, 0, flips=False)
    wanted = {m: METHODS[m].passes(networks=2, mc_samples=4, augmentations=augs)
              for m in MODEL_METHOD_IDS}
    x = torch.rand(5, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    samples, features = run_passes(nets, x, wanted, dropout_seed=7)
    # plain pass of net 0 shared by softmax, temperature, TTA[0] and ensemble[0]; 2 more crops;
    # net 1's plain pass; 4 dropout passes
    assert (nets[0].plain, nets[1].plain, nets[0].sampled) == (3, 1, 4)
    assert [len(samples[m]) for m in MODEL_METHOD_IDS] == [1, 1, 3, 4, 2]
    np.testing.assert_array_equal(samples["softmax"][0], samples["ensemble"][0])
    np.testing.assert_array_equal(samples["ensemble"][1], 2 * samples["softmax"][0])
    np.testing.assert_array_equal(features, samples["softmax"][0][:, :1])
    again, _ = run_passes([CountingNetwork(1.0)], x, {"mc_dropout": wanted["mc_dropout"]},
                          dropout_seed=7)
    for a, b in zip(samples["mc_dropout"], again["mc_dropout"], strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="dropout_seed"):
        run_passes(nets, x, {"mc_dropout": wanted["mc_dropout"]})
    assert run_passes(nets, x, {"softmax": (PLAIN,), "x": (Pass(network=1),)})[0]["x"][0].shape \
        == (5, 3)


def test_tta_on_a_built_in_network_is_the_softmax_of_its_augmented_copies():
    """TTA runs on a built-in dataset through the same passes as on a user's model: sample 0
    is the softmax baseline's probabilities, sample k the network's softmax on crop k."""
    spec = _tiny_spec()
    data = spec.load(0)
    tta = get_method("tta", FAST).fit(spec, data, CPU)
    out = tta.predict(data.test_x, CPU)
    assert out.probs.shape == (TTA_SAMPLES, len(data.test_y), 3)
    assert out.logits.shape == out.probs.shape
    base = get_method("softmax", FAST).fit(spec, data, CPU).predict(data.test_x, CPU)
    np.testing.assert_array_equal(out.probs[0], base.probs[0])
    np.testing.assert_array_equal(out.features, base.features)
    aug = tta_augmentations(TTA_SAMPLES, FAST.seed, flips=False)[3]
    logits, _ = network_logits(tta.net, augment(data.test_x, aug), CPU)
    np.testing.assert_array_equal(out.probs[3], softmax(logits, dtype=np.float32))
    assert not np.array_equal(out.probs[3], out.probs[0])
    acc = (out.probs.mean(0).argmax(1) == data.test_y.numpy()).mean()
    assert acc > 0.8


def test_a_torch_network_and_outputs_to_probabilities():
    net = build_network(_tiny_spec(), NetworkRecipe(TrainConfig(), seed=0)).eval()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    raw, feats = TorchNetwork(net, CPU).run(x)
    expected, expected_feats = network_logits(net, x, CPU)
    np.testing.assert_array_equal(raw, expected)
    np.testing.assert_array_equal(feats, expected_feats)
    np.testing.assert_allclose(to_probs(raw, "logits"), softmax(raw, dtype=np.float32))
    p = np.array([[0.2, 0.3, 0.5]])
    np.testing.assert_allclose(to_probs(p, "probabilities"), p, rtol=1e-6)
    np.testing.assert_allclose(to_probs(p, "probabilities", 2.0),
                               softmax(np.log(p) / 2.0, dtype=np.float32), rtol=1e-6)


def test_a_built_in_network_samples_dropout_through_the_protocol():
    """``TorchNetwork`` implements dropout sampling: MC dropout's passes on a built-in network
    differ from each other, repeat under the same seed, and leave the network in eval mode (the
    plain pass after them equals the one before)."""
    spec = _tiny_spec()
    net = build_network(spec, NetworkRecipe(TrainConfig(), seed=0)).eval()
    network = TorchNetwork(net, CPU)
    x = torch.rand(9, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    before, _ = network.run(x)
    passes = {"mc_dropout": METHODS["mc_dropout"].passes(mc_samples=3)}
    samples, _ = run_passes([network], x, passes, dropout_seed=5)
    again, _ = run_passes([network], x, passes, dropout_seed=5)
    assert not np.array_equal(samples["mc_dropout"][0], samples["mc_dropout"][1])
    for a, b in zip(samples["mc_dropout"], again["mc_dropout"], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(network.run(x)[0], before)
    assert not net.training and not any(m.training for m in net.modules())


def test_the_registry_lists_follow_applies_to():
    assert all("model" in METHODS[m].applies_to for m in MODEL_METHOD_IDS)
    assert {m for m, c in METHODS.items() if "model" in c.applies_to} == set(MODEL_METHOD_IDS)
    assert all("dataset" in METHODS[m].applies_to for m in METHOD_IDS)
