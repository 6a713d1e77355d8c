"""The science of the Learn pages' toys, on one CPU thread, with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uqviz.metrics.scores import entropy, expected_entropy, mutual_information
from uqviz.teaching.decomposition import (
    WORKED_EXAMPLE,
    ToySettings,
    aleatoric_epistemic_toy,
    decompose,
    region_means,
)
from uqviz.teaching.moons import (
    SNGP_BOUND,
    MoonsSettings,
    RandomFeatureGP,
    SpectralResidual,
    fit_moons,
    moons_playground,
    predict_moons,
)
from uqviz.teaching.regression1d import (
    RegressionSettings,
    StackedMLP,
    bootstrap_counts,
    fit_ensemble_1d,
    fit_stacked,
    gap_data,
    region_masks,
    region_spread,
)


# -- building blocks -------------------------------------------------------------------------
def test_stacked_members_are_independent_networks():
    gen = torch.Generator().manual_seed(0)
    net = StackedMLP(3, 1, 1, generator=gen)
    x = torch.linspace(-1, 1, 5)[:, None]
    out = net(x)
    assert out.shape == (3, 5, 1)
    # member 1 alone equals a plain MLP with its weights
    h = x
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        h = h @ w[1] + b[1]
        if i < 2:
            h = torch.relu(h)
    torch.testing.assert_close(out[1], h)
    assert not torch.allclose(out[0], out[1])


def test_training_members_together_equals_training_each_alone():
    data = gap_data(n=12)
    pair = StackedMLP(2, 1, 1, generator=torch.Generator().manual_seed(0))
    alone = StackedMLP(1, 1, 1, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for src, dst in zip([*pair.weights, *pair.biases], [*alone.weights, *alone.biases],
                            strict=True):
            dst.copy_(src[1:2])
    fit_stacked(pair, data.x[:, None], data.y, loss="mse", steps=60)
    fit_stacked(alone, data.x[:, None], data.y, loss="mse", steps=60)
    for src, dst in zip([*pair.weights, *pair.biases], [*alone.weights, *alone.biases],
                        strict=True):
        torch.testing.assert_close(src[1:2], dst, rtol=1e-4, atol=1e-5)


def test_bootstrap_counts_resample_every_row_total():
    counts = bootstrap_counts(4, 30, np.random.default_rng(0))
    assert counts.shape == (4, 30)
    assert np.all(counts.sum(axis=1) == 30)
    assert np.all(counts >= 0) and (counts == 0).any()  # some rows left out


@pytest.mark.parametrize("kwargs", [dict(members=0), dict(prior="gaussian"), dict(beta=-1.0),
                                    dict(steps=0)])
def test_regression_settings_name_the_bad_value(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RegressionSettings(**kwargs)


def test_fit_stacked_refuses_unknown_loss_and_bad_counts():
    net = StackedMLP(2, 1, 1, generator=torch.Generator().manual_seed(0))
    x, y = np.zeros((4, 1)), np.zeros(4)
    with pytest.raises(ValueError, match="loss"):
        fit_stacked(net, x, y, loss="hinge")
    with pytest.raises(ValueError, match="counts"):
        fit_stacked(net, x, y, loss="mse", counts=np.ones((3, 4)))


# -- 1-D ensembles ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plain():
    return fit_ensemble_1d(RegressionSettings(prior="none"))


@pytest.fixture(scope="module")
def with_prior():
    return fit_ensemble_1d(RegressionSettings(prior="random", beta=3.0))


def test_regions_cover_the_grid_once(plain):
    masks = region_masks(plain.x_grid, plain.data)
    total = masks["inside"].astype(int) + masks["gap"] + masks["outside"]
    assert np.all(total == 1)


# Margins below come from benchmarks/seed_spread.py (8 seeds; a different CPU moves the weights
# as a different seed does): σ gap / σ inside 3.18–6.95 (plain) and 4.93–10.9 (prior),
# σ outside / σ inside 7.68–9.75 (plain) and 6.99–8.62 (prior); RMSE 0.101–0.119.
@pytest.mark.parametrize("fixture", ["plain", "with_prior"])
def test_sigma_in_the_gap_and_outside_exceeds_sigma_inside(fixture, request):
    fit = request.getfixturevalue(fixture)
    s = region_spread(fit)
    assert s["gap"] > 2 * s["inside"], s
    assert s["outside"] > 3 * s["inside"], s


def test_members_fit_the_data(plain):
    pred = np.interp(plain.data.x, plain.x_grid, plain.mean)
    assert np.sqrt(np.mean((pred - plain.data.y) ** 2)) < 0.2


def test_a_random_prior_is_a_fixed_function_per_member_scaled_by_beta(plain, with_prior):
    """Each member is its trained network plus β·p_k(x), p_k drawn once per member. (Whether
    the prior widens the band beyond the data is not guaranteed: over 8 seeds σ outside with
    the prior over σ outside without ranged 0.78–1.65, mean 0.99, so no test claims it.)"""
    assert np.all(plain.prior == 0)
    assert np.all(np.std(with_prior.prior, axis=0) > 0)  # the members' priors differ
    half = fit_ensemble_1d(RegressionSettings(prior="random", beta=1.5))
    np.testing.assert_allclose(half.prior, with_prior.prior / 2, rtol=1e-5, atol=1e-6)


def test_sine_prior_is_shared_and_the_same_seed_repeats():
    a = fit_ensemble_1d(RegressionSettings(members=3, prior="sine", bootstrap=True, steps=200))
    b = fit_ensemble_1d(RegressionSettings(members=3, prior="sine", bootstrap=True, steps=200))
    np.testing.assert_allclose(a.prior, np.broadcast_to(3.0 * np.sin(a.x_grid), a.prior.shape),
                               atol=1e-5)
    np.testing.assert_array_equal(a.members, b.members)


def test_the_1d_ensemble_reports_its_training_time(plain):
    assert plain.seconds > 0  # the figure itself is in benchmarks/, not a timed test


# -- two moons -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def moons_models():
    return fit_moons(MoonsSettings())


def _far_points(radius: float = 6.0) -> np.ndarray:
    angle = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    return np.column_stack([0.5 + radius * np.cos(angle), 0.25 + radius * np.sin(angle)])


# Margins from benchmarks/seed_spread.py (8 seeds): MI far / MI near 77–1089 (deep ensemble),
# 43–1584 (prior ensemble) but only 1.24–5.59 for MC dropout, which is not guaranteed to be
# distance-aware; over any 3 of the 8 seeds its mean far / mean near was at least 1.49.
# Softmax entropy far away 0.000–0.024, the deep ensemble's 0.055–0.160; training accuracy
# 0.985–1.0.
@pytest.mark.parametrize("method", ["deep_ensemble", "prior_ensemble"])
def test_ensemble_mutual_information_far_exceeds_near(moons_models, method):
    near = predict_moons(moons_models, moons_models.x)[method]
    far = predict_moons(moons_models, _far_points())[method]
    assert mutual_information(far).mean() > 10 * mutual_information(near).mean()


def test_mc_dropout_mutual_information_rises_away_from_the_data_on_average(moons_models):
    """MC dropout's disagreement grows away from the data on average over seeds, not on
    every seed: three seeds, mean far > 1.2 × mean near."""
    near, far = [], []
    for models in [moons_models, *(fit_moons(MoonsSettings(seed=s)) for s in (1, 2))]:
        near.append(mutual_information(predict_moons(models, models.x)["mc_dropout"]).mean())
        far.append(mutual_information(predict_moons(models, _far_points())["mc_dropout"]).mean())
    assert np.mean(far) > 1.2 * np.mean(near), (near, far)


def test_softmax_is_confident_far_from_the_data(moons_models):
    far = predict_moons(moons_models, _far_points())
    assert entropy(far["softmax"]).mean() < 0.05
    assert entropy(far["softmax"]).mean() < entropy(far["deep_ensemble"]).mean()
    assert np.all(mutual_information(far["softmax"]) == 0)  # one sample: no disagreement


def test_moons_classifiers_learn_the_moons(moons_models):
    probs = predict_moons(moons_models, moons_models.x)
    for method, p in probs.items():
        acc = (p.mean(axis=0).argmax(axis=1) == moons_models.y).mean()
        assert acc > 0.95, (method, acc)
    assert probs["mc_dropout"].shape[0] == MoonsSettings().mc_samples
    assert probs["deep_ensemble"].shape[0] == MoonsSettings().members


def test_moons_playground_grid_and_time():
    result = moons_playground(MoonsSettings(n_points=60, steps=200), grid=20)
    assert result.probs["softmax"].shape == (1, 400, 2)
    assert result.seconds > 0  # timings belong to benchmarks/, never to a test


@pytest.mark.parametrize("kwargs", [dict(n_points=5), dict(noise=1.0), dict(members=1),
                                    dict(beta=0.0), dict(dropout=1.0), dict(mc_samples=1)])
def test_moons_settings_name_the_bad_value(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        MoonsSettings(**kwargs)


# -- aleatoric vs epistemic ------------------------------------------------------------------
def test_worked_example_by_hand():
    dec = decompose(np.array(WORKED_EXAMPLE))

    def h(p):
        return -p * np.log(p) - (1 - p) * np.log(1 - p)

    p = np.array(WORKED_EXAMPLE)
    assert dec.total == pytest.approx(h(p.mean()))
    assert dec.aleatoric == pytest.approx(np.mean([h(q) for q in p]))
    assert dec.total == pytest.approx(dec.aleatoric + dec.epistemic)
    # 0.9, 0.6, 0.2: mean 0.5667, H = 0.6842; expected entropy 0.4995; MI 0.1847
    assert (round(dec.total, 4), round(dec.aleatoric, 4), round(dec.epistemic, 4)) == (
        0.6842, 0.4995, 0.1847)


def test_decompose_edge_cases():
    agree = decompose(np.array([[0.5, 0.5]] * 3))
    assert agree.epistemic == pytest.approx(0) and agree.aleatoric == pytest.approx(np.log(2))
    split = decompose(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert split.aleatoric == pytest.approx(0) and split.epistemic == pytest.approx(np.log(2))
    with pytest.raises(ValueError, match="sum to 1"):
        decompose(np.array([[0.5, 0.6]]))
    with pytest.raises(ValueError, match="shape"):
        decompose(np.zeros((2, 2, 2)))


def test_decompose_matches_the_app_scores_on_random_members():
    rng = np.random.default_rng(0)
    members = rng.dirichlet(np.ones(4), size=6)
    dec = decompose(members)
    assert dec.total == pytest.approx(entropy(members[:, None])[0])
    assert dec.aleatoric == pytest.approx(expected_entropy(members[:, None])[0])


# Margins from benchmarks/seed_spread.py (8 seeds): aleatoric noisy − clean 0.508–0.618;
# aleatoric / epistemic in the noisy block 13.3–43.1; epistemic with 8 points over 200 points
# 1.29–20.4 per seed, and at least 2.37 for the means over any 3 of the 8 seeds.
def test_label_noise_raises_aleatoric_uncertainty():
    clean = region_means(aleatoric_epistemic_toy(ToySettings(label_noise=0.0, n_points=200)))
    noisy = region_means(aleatoric_epistemic_toy(ToySettings(label_noise=0.3, n_points=200)))
    assert noisy["noisy"]["aleatoric"] > clean["noisy"]["aleatoric"] + 0.3
    assert noisy["noisy"]["aleatoric"] > 5 * noisy["noisy"]["epistemic"]


def test_too_little_data_raises_epistemic_uncertainty_on_average():
    """Fewer points leave the members freer to disagree, on average over seeds (one seed can
    come close: 1.29×)."""
    def epistemic(n_points: int, seed: int) -> float:
        toy = aleatoric_epistemic_toy(ToySettings(label_noise=0.3, n_points=n_points, seed=seed))
        return region_means(toy)["data"]["epistemic"]

    few = np.mean([epistemic(8, s) for s in range(3)])
    many = np.mean([epistemic(200, s) for s in range(3)])
    assert few > 1.5 * many, (few, many)


@pytest.mark.parametrize("kwargs", [dict(label_noise=0.6), dict(n_points=2), dict(members=1),
                                    dict(beta=-1.0)])
def test_toy_settings_name_the_bad_value(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ToySettings(**kwargs)


# -- SNGP on two moons -----------------------------------------------------------------------
def test_gp_layer_variance_is_the_prior_without_data_and_shrinks_where_the_data_is():
    """By hand: with the prior's precision alone (Σ = I) the variance is φᵀφ; after 12 copies
    of one point at p = 1/2 (weight p(1 − p) = 1/4), Sherman–Morrison gives
    φ_aᵀ(I + 3 φφᵀ)⁻¹φ_a = φ_aᵀφ_a − 3 (φ_aᵀφ)² / (1 + 3 φᵀφ)."""
    gp = RandomFeatureGP(2, 2, features=64, length_scale=0.5,
                         generator=torch.Generator().manual_seed(0))
    points = torch.tensor([[0.0, 0.0], [5.0, 5.0]])  # a training point, one far away
    phi = gp.features(points).double()
    with torch.no_grad():
        torch.testing.assert_close(gp.variance(points).double(), (phi ** 2).sum(1))
        gp.fit_covariance(torch.empty(0, 2))  # no data: still the prior
        torch.testing.assert_close(gp.variance(points).double(), (phi ** 2).sum(1))
        gp.output.zero_()  # logits 0: p = 1/2 at every point
        gp.fit_covariance(points[:1].expand(12, 2))
        var = gp.variance(points).double()
    s = phi @ phi[0]
    expected = (phi ** 2).sum(1) - 3 * s ** 2 / (1 + 3 * s[0])
    torch.testing.assert_close(var, expected, rtol=1e-4, atol=1e-6)
    # at the point s / (1 + 3s) with s = φᵀφ ≈ 1, about 1/4; far away about the prior's, 1
    assert var[0] < 0.3 and var[1] > 0.8, var


def test_spectral_residual_caps_the_largest_singular_value_at_the_bound():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        big, small = SpectralResidual(3, bound=0.5), SpectralResidual(3, bound=0.5)
    for block, diag in ((big, [3.0, 1.0, 0.2]), (small, [0.4, 0.1, 0.05])):
        with torch.no_grad():
            block.linear.parametrizations.weight.original.copy_(torch.diag(torch.tensor(diag)))
        block.settle()
        block.eval()
    with torch.no_grad():
        # too large: scaled down to norm c; inside the bound: left alone
        torch.testing.assert_close(big.weight(), torch.diag(torch.tensor([0.5, 1 / 6, 0.2 / 6])))
        torch.testing.assert_close(small.weight(), torch.diag(torch.tensor([0.4, 0.1, 0.05])))
    with pytest.raises(ValueError, match="bound"):
        SpectralResidual(3, bound=0.0)


# Margins from benchmarks/seed_spread.py (8 seeds): largest singular value of any trained
# block 0.95000–0.95004 (c = 0.95); GP variance near 0.666–0.729, far 0.977–0.985 (far − near
# at least 0.25); entropy near 0.194–0.234, far 0.670–0.684, far / near 2.92–3.46; training
# accuracy 0.985–1.0.
def test_sngp_is_a_single_spectrally_bounded_mean_field_prediction(moons_models):
    net = moons_models.sngp
    with torch.no_grad():
        for block in net.blocks:
            assert torch.linalg.matrix_norm(block.weight(), ord=2) <= SNGP_BOUND + 1e-3
        xt = torch.as_tensor(moons_models.x)
        scale = torch.sqrt(1 + np.pi / 8 * net.variance(xt))[:, None]
        torch.testing.assert_close(net(xt)[0], net.logits(xt) / scale)
    assert predict_moons(moons_models, moons_models.x)["sngp"].shape == (1, 200, 2)


def test_sngp_uncertainty_far_exceeds_near(moons_models):
    near = predict_moons(moons_models, moons_models.x)["sngp"]
    far = predict_moons(moons_models, _far_points())["sngp"]
    assert entropy(far).mean() > 2 * entropy(near).mean()
    with torch.no_grad():
        var_near = moons_models.sngp.variance(torch.as_tensor(moons_models.x)).mean()
        var_far = moons_models.sngp.variance(torch.as_tensor(_far_points(),
                                                             dtype=torch.float32)).mean()
    assert var_far > var_near + 0.1


# Uniformity = the least entropy on the circle as a share of its mean (8 seeds): SNGP
# 0.815–0.956; deep and prior ensembles below 1e-5 on every seed (some directions are
# certain: the members agree there).
def test_sngp_is_uncertain_all_around_the_ensemble_only_in_wedges(moons_models):
    far = predict_moons(moons_models, _far_points())

    def uniformity(method: str) -> float:
        h = entropy(far[method])
        return float(h.min() / h.mean())

    assert uniformity("sngp") > 0.5
    assert uniformity("sngp") > uniformity("deep_ensemble") + 0.5
