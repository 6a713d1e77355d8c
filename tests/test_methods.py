"""Methods, training and inference on real (small) networks."""

import numpy as np
import pytest
import torch

from uqviz.data.base import OFFLINE, DatasetSpec, splits_from_arrays
from uqviz.inference import ensemble_logits, mc_dropout_logits, network_logits
from uqviz.methods import METHOD_IDS, MethodConfig, get_method, parse_method_list
from uqviz.methods.temperature import fit_temperature, nll_at_temperature
from uqviz.models import PriorNet, SmallCNN, build_model, has_active_dropout
from uqviz.training import NetworkRecipe, TrainConfig, build_network, trained_network

CPU = torch.device("cpu")


def _tiny_spec():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    images = rng.random((120, 1, 8, 8)).astype(np.float32) * 0.3
    for c in range(3):  # each class lights up its own rows
        images[labels == c, 0, 2 * c:2 * c + 2, :] += 0.7
    return DatasetSpec("tiny-test", 3, ("a", "b", "c"), (1, 8, 8), OFFLINE, "tiny",
                       lambda seed: splits_from_arrays(images, labels, seed))


FAST = MethodConfig(train=TrainConfig(epochs=25), members=3, mc_samples=4)


def test_registry_lists_valid_names():
    assert set(METHOD_IDS) == {"softmax", "temperature", "mc_dropout", "deep_ensemble",
                               "prior_ensemble"}
    with pytest.raises(ValueError, match="valid: softmax"):
        get_method("bayes_by_magic")
    assert parse_method_list("all") == list(METHOD_IDS)


@pytest.mark.parametrize("method_id", METHOD_IDS)
def test_each_method_fits_and_predicts(method_id):
    spec = _tiny_spec()
    data = spec.load(0)
    method = get_method(method_id, FAST).fit(spec, data, CPU)
    out = method.predict(data.test_x, CPU)
    expected_s = {"mc_dropout": 4, "deep_ensemble": 3, "prior_ensemble": 3}.get(method_id, 1)
    assert out.probs.shape == (expected_s, len(data.test_y), 3)
    assert out.probs.dtype == np.float32
    np.testing.assert_allclose(out.probs.sum(-1), 1, atol=1e-5)
    assert out.features.shape[0] == len(data.test_y)
    acc = (out.probs.mean(0).argmax(1) == data.test_y.numpy()).mean()
    assert acc > 0.8


def test_batched_and_looped_ensemble_agree():
    spec = _tiny_spec()
    nets = [build_network(spec, NetworkRecipe(TrainConfig(), seed=s)).eval() for s in range(3)]
    x = torch.rand(37, 1, 8, 8)
    looped, f1 = ensemble_logits(nets, x, CPU, batched=False, batch_size=16)
    batched, f2 = ensemble_logits(nets, x, CPU, batched=True, batch_size=16)
    np.testing.assert_allclose(looped, batched, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(f1, f2, rtol=1e-4, atol=1e-5)


def test_batched_prior_ensemble_includes_the_prior():
    spec = _tiny_spec()
    nets = [build_network(spec, NetworkRecipe(TrainConfig(), seed=s, prior_beta=2.0)).eval()
            for s in range(2)]
    assert isinstance(nets[0], PriorNet)
    x = torch.rand(5, 1, 8, 8)
    batched, _ = ensemble_logits(nets, x, CPU, batched=True)
    with torch.no_grad():
        direct = torch.stack([n(x) for n in nets]).numpy()
    np.testing.assert_allclose(batched, direct, rtol=1e-4, atol=1e-5)


def test_mc_dropout_samples_differ_and_do_not_mutate_the_network():
    net = SmallCNN(1, 3, 8, dropout=0.5).eval()
    x = torch.rand(6, 1, 8, 8)
    before = network_logits(net, x, CPU)[0]
    looped = mc_dropout_logits(net, x, CPU, samples=5, seed=1, batched=False)
    batched = mc_dropout_logits(net, x, CPU, samples=5, seed=1, batched=True)
    assert looped.shape == batched.shape == (5, 6, 3)
    assert np.std(looped, axis=0).mean() > 1e-3  # the samples differ
    assert not net.training and not any(m.training for m in net.modules())
    np.testing.assert_allclose(network_logits(net, x, CPU)[0], before)  # unchanged
    again = mc_dropout_logits(net, x, CPU, samples=5, seed=1, batched=False)
    np.testing.assert_array_equal(looped, again)  # seeded


def test_mc_dropout_requires_dropout():
    net = SmallCNN(1, 3, 8, dropout=0.0)
    assert not has_active_dropout(net)
    with pytest.raises(ValueError, match="dropout"):
        mc_dropout_logits(net, torch.rand(2, 1, 8, 8), CPU, samples=3, seed=0, batched=False)


def test_fit_temperature_matches_lbfgs():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 5)) * 4
    labels = np.array([rng.choice(5, p=np.exp(z / 2.5) / np.exp(z / 2.5).sum()) for z in logits])
    t = fit_temperature(logits, labels)
    log_t = torch.zeros(1, requires_grad=True, dtype=torch.float64)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200)
    lt, yt = torch.tensor(logits), torch.tensor(labels)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lt / log_t.exp(), yt)
        loss.backward()
        return loss

    opt.step(closure)
    assert t == pytest.approx(float(log_t.detach().exp()), rel=1e-3)
    assert 2.0 < t < 3.2  # the data were drawn at T = 2.5
    assert nll_at_temperature(logits, labels, t) <= nll_at_temperature(logits, labels, 1.0)


def test_weights_are_cached_and_reloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("UQVIZ_CACHE", str(tmp_path))
    spec = _tiny_spec()
    data = spec.load(0)
    recipe = NetworkRecipe(TrainConfig(epochs=1), seed=3)
    first = trained_network(spec, data, recipe, CPU)
    files = list((tmp_path / "weights").glob("*.pt"))
    assert len(files) == 1 and not list((tmp_path / "weights").glob(".*tmp"))
    calls = []
    second = trained_network(spec, data, recipe, CPU, lambda f, m: calls.append(m))
    assert calls == ["loaded from cache"]
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    files[0].write_bytes(b"not a checkpoint")  # a corrupt entry is retrained, not fatal
    third = trained_network(spec, data, recipe, CPU)
    assert third is not None


def test_build_model_picks_architecture():
    assert isinstance(build_model("auto", (1, 28, 28), 10, 0.25), SmallCNN)
    assert type(build_model("auto", (3, 32, 32), 10, 0.1)).__name__ == "ResNet18"
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("vgg", (1, 8, 8), 10, 0.1)


def test_fit_temperature_keeps_one_when_scaling_does_not_help_held_out_folds():
    from uqviz.methods.temperature import cross_validated_nll_gain, nll_optimal_temperature

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(60, 4)) * 3
    # labels drawn from softmax(logits): the model is calibrated at T = 1 already
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(4, p=row) for row in p])
    raw = nll_optimal_temperature(logits, labels)
    assert raw != pytest.approx(1.0, abs=1e-3)  # the raw fit moves T on noise
    if cross_validated_nll_gain(logits, labels) <= 0:
        assert fit_temperature(logits, labels) == 1.0
    else:
        assert fit_temperature(logits, labels) == pytest.approx(raw)
