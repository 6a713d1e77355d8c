"""Inference speed paths: batched vs looped, channels_last, chunking, compile, the recorded
batching table, bf16 autocast, and the cifar10 preset."""

import warnings

import numpy as np
import pytest
import torch

from uqviz import device as device_mod
from uqviz import inference
from uqviz.data.base import DatasetUnavailable
from uqviz.device import BATCHING, BatchingChoice, batching_choice, memory_budget, prefers_batched
from uqviz.inference import (
    activation_bytes_per_row,
    ensemble_logits,
    mc_dropout_logits,
    mc_rows_per_pass,
    network_logits,
    rows_per_pass,
)
from uqviz.models import PriorNet, ResNet18, SmallCNN, architecture_of

CPU = torch.device("cpu")
TOL = {"rtol": 1e-4, "atol": 1e-5}


def _members(make, k=3):
    nets = []
    for seed in range(k):
        torch.manual_seed(seed)
        nets.append(make().eval())
    return nets


def _small():
    return SmallCNN(1, 4, 8, dropout=0.5)


def _resnet():
    return ResNet18(3, 4, dropout=0.3)


@pytest.fixture(params=["small_cnn", "resnet18"])
def case(request):
    """Members and a tiny input for each architecture."""
    if request.param == "small_cnn":
        return _members(_small, 3), torch.rand(11, 1, 8, 8, generator=torch.Generator()
                                               .manual_seed(0))
    return _members(_resnet, 2), torch.rand(3, 3, 16, 16, generator=torch.Generator()
                                            .manual_seed(0))


def test_batched_equals_looped(case):
    nets, x = case
    looped, f_loop = ensemble_logits(nets, x, CPU, batched=False, batch_size=4)
    batched, f_batch = ensemble_logits(nets, x, CPU, batched=True, batch_size=4)
    assert looped.shape == (len(nets), len(x), 4)
    np.testing.assert_allclose(batched, looped, **TOL)
    np.testing.assert_allclose(f_batch, f_loop, **TOL)


def test_channels_last_gives_the_same_logits(case):
    nets, x = case
    plain, feats = network_logits(nets[0], x, CPU, channels_last=False)
    nhwc, feats_nhwc = network_logits(nets[0], x, CPU, channels_last=True)
    np.testing.assert_allclose(nhwc, plain, **TOL)
    np.testing.assert_allclose(feats_nhwc, feats, **TOL)
    batched, _ = ensemble_logits(nets, x, CPU, batched=True, channels_last=True)
    np.testing.assert_allclose(batched[0], plain, **TOL)
    mc = mc_dropout_logits(nets[0], x, CPU, samples=3, seed=4, batched=True, channels_last=False)
    mc_nhwc = mc_dropout_logits(nets[0], x, CPU, samples=3, seed=4, batched=True,
                                channels_last=True)
    np.testing.assert_allclose(mc_nhwc, mc, **TOL)


def test_chunking_by_memory_budget_gives_the_one_pass_result(case):
    nets, x = case
    one_pass, feats = ensemble_logits(nets, x, CPU, batched=True, batch_size=len(x))
    per_row = activation_bytes_per_row(nets[0], tuple(x.shape[1:]))
    tight = len(nets) * per_row  # room for exactly one image × K members
    assert rows_per_pass(len(x), len(nets), per_row, tight) == 1
    chunked, feats_chunked = ensemble_logits(nets, x, CPU, batched=True, batch_size=len(x),
                                             memory_budget=tight)
    np.testing.assert_allclose(chunked, one_pass, **TOL)
    np.testing.assert_allclose(feats_chunked, feats, **TOL)
    single, _ = network_logits(nets[0], x, CPU, memory_budget=1)
    np.testing.assert_allclose(single, one_pass[0], **TOL)


def test_chunked_batches_are_what_runs(monkeypatch):
    nets, x = _members(_small, 2), torch.rand(10, 1, 8, 8)
    sizes = []
    real = inference._vmapped_members

    def spy(base):
        mapped = real(base)

        def call(p, b, xb):
            sizes.append(len(xb))
            return mapped(p, b, xb)
        return call

    monkeypatch.setattr(inference, "_vmapped_members", spy)
    per_row = activation_bytes_per_row(nets[0], (1, 8, 8))
    ensemble_logits(nets, x, CPU, batched=True, memory_budget=3 * 2 * per_row)
    assert sizes == [3, 3, 3, 1]


def test_rows_per_pass_arithmetic():
    assert rows_per_pass(1024, 5, 1000, 1_000_000) == 200  # 1e6 / (5 × 1000)
    assert rows_per_pass(100, 5, 1000, 1_000_000) == 100  # the batch size binds
    assert rows_per_pass(100, 5, 1000, 10) == 1  # never zero rows
    with pytest.raises(ValueError, match="copies"):
        rows_per_pass(10, 0, 1, 1)
    # SmallCNN 28×28: the largest activation is the first conv (32 × 28 × 28 floats)
    assert activation_bytes_per_row(SmallCNN(1, 10, 28), (1, 28, 28)) == 4 * 32 * 28 * 28 * 4


def test_mc_rows_per_pass_respects_the_budget_and_the_row_cap():
    net = SmallCNN(1, 10, 28)
    assert mc_rows_per_pass(net, (1, 28, 28), 30, 1024, 1 << 40) == 16384 // 30
    small = mc_rows_per_pass(net, (1, 28, 28), 30, 1024, 4 << 20)
    trunk = activation_bytes_per_row(net, (1, 28, 28))
    assert 1 <= small < 16384 // 30 and small * trunk <= 4 << 20


def test_compile_matches_eager(monkeypatch):
    monkeypatch.setenv("UQVIZ_COMPILE_BACKEND", "eager")  # dynamo tracing without a C compiler
    net, x = _small().eval(), torch.rand(6, 1, 8, 8)
    eager, _ = network_logits(net, x, CPU, compile=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback may happen here
        compiled, _ = network_logits(net, x, CPU, compile=True)
    np.testing.assert_allclose(compiled, eager, **TOL)


def test_compile_failure_falls_back_to_eager_with_a_warning(monkeypatch):
    def broken(fn, **_kw):
        def call(*_a):
            raise RuntimeError("inductor: no C++ compiler")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setenv("UQVIZ_COMPILE", "1")
    nets, x = _members(_small, 2), torch.rand(5, 1, 8, 8)
    eager, _ = ensemble_logits(nets, x, CPU, batched=True, compile=False)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        fallback, _ = ensemble_logits(nets, x, CPU, batched=True)
    np.testing.assert_allclose(fallback, eager, **TOL)
    with pytest.warns(RuntimeWarning, match="running eagerly"):
        single, _ = network_logits(nets[0], x, CPU)
    np.testing.assert_allclose(single, eager[0], **TOL)


def test_recorded_table_is_used_by_default(monkeypatch):
    assert prefers_batched(CPU, arch="small_cnn") is BATCHING[("cpu", "small_cnn")].ensemble
    assert prefers_batched(torch.device("cuda"), arch="resnet18", workload="mc_dropout")
    for (kind, arch), choice in BATCHING.items():
        assert choice.source and kind in ("cpu", "cuda", "mps") and arch in ("small_cnn",
                                                                              "resnet18")
    with pytest.raises(ValueError, match="workload"):
        prefers_batched(CPU, workload="bootstrap")
    assert batching_choice(CPU, "vit").ensemble is False  # unknown arch: the device default

    calls = []
    real = inference._vmapped_members
    monkeypatch.setattr(inference, "_vmapped_members", lambda base: calls.append(1) or real(base))
    nets, x = _members(_small, 2), torch.rand(4, 1, 8, 8)
    ensemble_logits(nets, x, CPU)  # the CPU entry says: loop
    assert calls == []
    monkeypatch.setitem(BATCHING, ("cpu", "small_cnn"), BatchingChoice(True, True, "test"))
    ensemble_logits(nets, x, CPU)
    assert calls == [1]


def test_architecture_of_networks():
    assert architecture_of(SmallCNN(1, 3, 8)) == "small_cnn"
    assert architecture_of(ResNet18(3, 3)) == "resnet18"
    assert architecture_of(PriorNet(SmallCNN(1, 3, 8), SmallCNN(1, 3, 8), 1.0)) == "small_cnn"
    assert architecture_of(torch.nn.Linear(2, 2)) is None


def test_bf16_autocast_on_cpu_is_close_to_float32():
    net, x = _small().eval(), torch.rand(8, 1, 8, 8)
    fp32, _ = network_logits(net, x, CPU, bf16=False)
    bf16, _ = network_logits(net, x, CPU, bf16=True)
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(bf16, fp32, rtol=0.05, atol=0.02)
    assert not np.array_equal(bf16, fp32)  # autocast really ran in bf16


def test_memory_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv("UQVIZ_MEMORY_BUDGET_MB", "2")
    assert memory_budget(CPU) == 2 << 20
    monkeypatch.setenv("UQVIZ_MEMORY_BUDGET_MB", "lots")
    with pytest.raises(ValueError, match="UQVIZ_MEMORY_BUDGET_MB must be a number"):
        memory_budget(CPU)
    monkeypatch.delenv("UQVIZ_MEMORY_BUDGET_MB")
    assert memory_budget(CPU) == device_mod.CPU_MEMORY_BUDGET
    with pytest.raises(ValueError, match="memory_budget must be > 0"):
        network_logits(_small().eval(), torch.rand(2, 1, 8, 8), CPU, memory_budget=0)


def _tiny_training():
    from uqviz.data.base import splits_from_arrays
    from uqviz.training import NetworkRecipe, TrainConfig

    rng = np.random.default_rng(1)
    data = splits_from_arrays(rng.random((40, 1, 8, 8)).astype(np.float32),
                              np.repeat(np.arange(2), 20), 0)
    return data, NetworkRecipe(TrainConfig(arch="small_cnn", epochs=1, batch_size=8), seed=0)


def test_fit_network_compiled_matches_eager_or_falls_back(monkeypatch):
    from uqviz.training import fit_network

    data, recipe = _tiny_training()
    x = torch.rand(4, 1, 8, 8)
    torch.manual_seed(0)
    eager = fit_network(SmallCNN(1, 2, 8), data, recipe, CPU, compile=False)
    monkeypatch.setenv("UQVIZ_COMPILE_BACKEND", "eager")
    torch.manual_seed(0)
    compiled = fit_network(SmallCNN(1, 2, 8), data, recipe, CPU, compile=True)
    np.testing.assert_allclose(network_logits(compiled, x, CPU)[0],
                               network_logits(eager, x, CPU)[0], rtol=1e-3, atol=1e-4)

    def broken(module, **_kw):
        def call(*_a):
            raise RuntimeError("backend exploded")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    torch.manual_seed(0)
    with pytest.warns(RuntimeWarning, match="training eagerly"):
        fallback = fit_network(SmallCNN(1, 2, 8), data, recipe, CPU, compile=True)
    np.testing.assert_allclose(network_logits(fallback, x, CPU)[0],
                               network_logits(eager, x, CPU)[0], rtol=1e-5, atol=1e-6)

    class FailingBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t.clone()

        @staticmethod
        def backward(ctx, grad):
            raise RuntimeError("backward compile exploded")

    def broken_backward(module, **_kw):
        return lambda *a: FailingBackward.apply(module(*a))

    monkeypatch.setattr(torch, "compile", broken_backward)
    torch.manual_seed(0)
    with pytest.warns(RuntimeWarning, match="training eagerly"):
        redone = fit_network(SmallCNN(1, 2, 8), data, recipe, CPU, compile=True)
    np.testing.assert_allclose(network_logits(redone, x, CPU)[0],
                               network_logits(eager, x, CPU)[0], rtol=1e-5, atol=1e-6)


def test_fit_network_channels_last_on_cpu():
    from uqviz.training import fit_network

    data, recipe = _tiny_training()
    torch.manual_seed(0)
    a = fit_network(SmallCNN(1, 2, 8), data, recipe, CPU, channels_last=False)
    torch.manual_seed(0)
    b = fit_network(SmallCNN(1, 2, 8), data, recipe, CPU, channels_last=True)
    assert not b.training
    x = torch.rand(4, 1, 8, 8)
    np.testing.assert_allclose(network_logits(b, x, CPU)[0], network_logits(a, x, CPU)[0],
                               rtol=1e-3, atol=1e-4)


# -- the cifar10 preset ------------------------------------------------------------------------
def test_cifar10_preset_builds_config_and_plan():
    from uqviz.presets import get_preset, preset_config
    from uqviz.runs import SEVERITIES
    from uqviz.shifts import CORRUPTIONS

    cfg = preset_config("cifar10")
    assert cfg.dataset == "cifar10" and cfg.preset.arch == "resnet18"
    assert cfg.config.members == 5 and cfg.config.mc_samples == 30
    assert cfg.config.train.arch == "resnet18" and cfg.config.train.epochs == 30
    assert cfg.plan.corruption_names() == tuple(CORRUPTIONS)
    assert cfg.plan.severities == SEVERITIES
    assert "deep_ensemble" in cfg.methods and "mc_dropout" in cfg.methods
    with pytest.raises(ValueError, match="valid: cifar10"):
        get_preset("imagenet")


def test_cifar10_missing_files_say_so_in_one_line(tmp_path, monkeypatch):
    from uqviz.data import get_dataset
    from uqviz.presets import preset_config

    monkeypatch.setenv("UQVIZ_OFFLINE", "1")
    spec = get_dataset(preset_config("cifar10").dataset, str(tmp_path))
    with pytest.raises(DatasetUnavailable) as err:
        spec.load(0)
    message = str(err.value)
    assert "\n" not in message
    assert "cifar-10-python.tar.gz" in message and str(tmp_path) in message


def test_uqviz_bf16_switches_autocast_and_the_weights_key(monkeypatch):
    from uqviz.data import get_dataset
    from uqviz.device import BF16_ENV, uses_bf16
    from uqviz.training import NetworkRecipe, TrainConfig, weights_path

    cuda = torch.device("cuda")  # only compared, never used
    monkeypatch.delenv(BF16_ENV, raising=False)
    assert uses_bf16(cuda) and not uses_bf16(CPU)
    assert uses_bf16(CPU, True) and not uses_bf16(cuda, False)
    monkeypatch.setenv(BF16_ENV, "0")
    assert not uses_bf16(cuda)
    monkeypatch.setenv(BF16_ENV, "1")
    assert uses_bf16(CPU)
    recipe = NetworkRecipe(train=TrainConfig(epochs=1), seed=0)
    spec = get_dataset("digits")
    bf16_path = weights_path(spec, recipe, 0, CPU)
    monkeypatch.setenv(BF16_ENV, "0")
    assert weights_path(spec, recipe, 0, CPU) != bf16_path
    assert weights_path(spec, recipe, 0, cuda) == weights_path(spec, recipe, 0, CPU)
    monkeypatch.setenv(BF16_ENV, "maybe")
    with pytest.raises(ValueError, match="UQVIZ_BF16"):
        uses_bf16(CPU)


@pytest.mark.parametrize("batched", [True, False])
def test_mc_dropout_samples_do_not_depend_on_how_the_rows_are_cut(batched):
    from uqviz.inference import MC_SEED_ROWS, mc_dropout_logits, mc_seed_blocks

    torch.manual_seed(0)
    net = SmallCNN(1, 10, 8, dropout=0.5).eval()
    x = torch.rand(3 * MC_SEED_ROWS + 22, 1, 8, 8)
    whole = mc_dropout_logits(net, x, CPU, samples=5, seed=3, batched=batched)
    cut = 2 * MC_SEED_ROWS
    shards = np.concatenate([
        mc_dropout_logits(net, x[:cut], CPU, samples=5, seed=3, batched=batched),
        mc_dropout_logits(net, x[cut:], CPU, samples=5, seed=3, batched=batched,
                          row_offset=cut)], axis=1)
    tiny_budget = mc_dropout_logits(net, x, CPU, samples=5, seed=3, batched=batched,
                                    memory_budget=1)
    np.testing.assert_allclose(shards, whole, atol=1e-5)
    np.testing.assert_allclose(tiny_budget, whole, atol=1e-5)
    assert whole.std(axis=0).mean() > 1e-3  # the samples really differ
    other_seed = mc_dropout_logits(net, x, CPU, samples=5, seed=4, batched=batched)
    assert np.abs(other_seed - whole).max() > 1e-3
    b = MC_SEED_ROWS
    assert mc_seed_blocks(2 * b + 10, b - 12) == [(0, 12, 0), (12, 12 + b, 1),
                                                  (12 + b, 2 * b + 10, 2)]


def test_compiled_and_bf16_runs_are_cached_apart(monkeypatch):
    from uqviz.data import get_dataset
    from uqviz.device import BF16_ENV, COMPILE_ENV
    from uqviz.methods import MethodConfig
    from uqviz.runs import EvalPlan, predictions_path
    from uqviz.training import NetworkRecipe, TrainConfig, weights_path

    monkeypatch.delenv(BF16_ENV, raising=False)
    monkeypatch.delenv(COMPILE_ENV, raising=False)
    spec, recipe = get_dataset("digits"), NetworkRecipe(train=TrainConfig(epochs=1), seed=0)
    eager = weights_path(spec, recipe, 0, CPU)
    assert weights_path(spec, recipe, 0, CPU, compile=True) != eager
    plain = predictions_path(spec, 0, "mc_dropout", MethodConfig(), EvalPlan(), CPU)
    monkeypatch.setenv(COMPILE_ENV, "1")
    assert weights_path(spec, recipe, 0, CPU) != eager
    compiled = predictions_path(spec, 0, "mc_dropout", MethodConfig(), EvalPlan(), CPU)
    monkeypatch.delenv(COMPILE_ENV)
    monkeypatch.setenv(BF16_ENV, "1")
    bf16 = predictions_path(spec, 0, "mc_dropout", MethodConfig(), EvalPlan(), CPU)
    assert len({plain, compiled, bf16}) == 3
