"""Contrastive divergence (engine.train.rules.rbm): the update against a hand-written reference, learning on
digits, persistent CD, Gaussian visible units, and the pseudo-likelihood against scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.neural_network import BernoulliRBM

from engine.compile.layers import RBM
from engine.train.rules.rbm import (
    Velocity,
    cd_update,
    free_energy_gap,
    gibbs_samples,
    hidden_weight_images,
    pseudo_log_likelihood,
    pseudo_log_likelihood_at,
    reconstruction_error,
    reconstructions,
    start_chain,
)

pytestmark = pytest.mark.usefixtures("single_thread_torch")


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return torch.tensor(load_digits().data[:1437] / 16.0, dtype=torch.float32)  # (1437, 64) in [0, 1]


def make_rbm(n_visible=64, n_hidden=32, seed=0, visible="bernoulli", dtype=torch.float32) -> RBM:
    torch.manual_seed(seed)
    return RBM(n_visible, n_hidden, visible=visible).to(dtype)


def run_epochs(rbm, data, epochs, lr, batch_size=10, seed=0, **kwargs):
    generator = torch.Generator().manual_seed(seed)
    chain = kwargs.pop("chain", None)
    for _ in range(epochs):
        order = torch.randperm(data.shape[0], generator=generator)
        for start in range(0, data.shape[0], batch_size):
            result = cd_update(
                rbm, data[order[start : start + batch_size]], lr, chain=chain, generator=generator, **kwargs
            )
            chain = result.chain
    return chain


def mean_pll(rbm, data, seed=7) -> float:
    return pseudo_log_likelihood(rbm, data, torch.Generator().manual_seed(seed)).mean().item()  # same flips each call


def reference_step(weight, h_bias, v_bias, v0, h_sample, v_chain_start, lr, visible_mean, sample_neg):
    """Hinton's CD update in float64 from given binary hidden states: ((W, b_h, b_v), negative visible)."""
    sigmoid = torch.sigmoid
    h_pos = sigmoid(v0 @ weight.T + h_bias)
    v_neg = visible_mean(h_sample @ weight + v_bias) if v_chain_start is None else sample_neg
    h_neg = sigmoid(v_neg @ weight.T + h_bias)
    grad_w = h_pos.T @ v0 / len(v0) - h_neg.T @ v_neg / len(v_neg)
    grad_h = h_pos.mean(0) - h_neg.mean(0)
    grad_v = v0.mean(0) - v_neg.mean(0)
    return (weight + lr * grad_w, h_bias + lr * grad_h, v_bias + lr * grad_v), v_neg


def test_cd1_update_is_the_hand_written_rule(digits):
    rbm = make_rbm(dtype=torch.float64)
    with torch.no_grad():
        rbm.h_bias.uniform_(-0.5, 0.5), rbm.v_bias.uniform_(-0.5, 0.5)
    v0 = digits[:10].double()
    before = [p.detach().clone() for p in (rbm.weight, rbm.h_bias, rbm.v_bias)]
    generator = torch.Generator().manual_seed(3)
    replay = torch.Generator().set_state(generator.get_state())  # draws the same hidden sample
    result = cd_update(rbm, v0, lr=0.1, k=1, generator=generator)
    h_sample = torch.bernoulli(torch.sigmoid(v0 @ before[0].T + before[1]), generator=replay)
    expected, v_neg = reference_step(*before, v0, h_sample, None, 0.1, torch.sigmoid, None)
    for got, want in zip((rbm.weight, rbm.h_bias, rbm.v_bias), expected):
        torch.testing.assert_close(got.detach(), want)
    torch.testing.assert_close(result.reconstruction_error, ((v_neg - v0) ** 2).mean())
    assert result.chain is None and result.velocity is None


def test_cd2_runs_two_gibbs_steps_and_reports_the_first_reconstruction(digits):
    rbm = make_rbm(dtype=torch.float64)
    v0 = digits[:10].double()
    weight, h_bias, v_bias = (p.detach().clone() for p in (rbm.weight, rbm.h_bias, rbm.v_bias))
    generator = torch.Generator().manual_seed(4)
    replay = torch.Generator().set_state(generator.get_state())
    result = cd_update(rbm, v0, lr=0.1, k=2, generator=generator)
    h_pos = torch.sigmoid(v0 @ weight.T + h_bias)
    v1 = torch.sigmoid(torch.bernoulli(h_pos, generator=replay) @ weight + v_bias)  # visible probabilities
    h1 = torch.bernoulli(torch.sigmoid(v1 @ weight.T + h_bias), generator=replay)  # hidden sampled on the way
    v2 = torch.sigmoid(h1 @ weight + v_bias)
    h2 = torch.sigmoid(v2 @ weight.T + h_bias)  # the last hidden step: probabilities
    expected_w = weight + 0.1 * (h_pos.T @ v0 - h2.T @ v2) / 10
    torch.testing.assert_close(rbm.weight.detach(), expected_w)
    torch.testing.assert_close(rbm.v_bias.detach(), v_bias + 0.1 * (v0 - v2).mean(0))
    torch.testing.assert_close(result.reconstruction_error, ((v1 - v0) ** 2).mean())


def test_weight_decay_and_momentum_follow_the_guide(digits):
    rbm, plain = make_rbm(dtype=torch.float64), make_rbm(dtype=torch.float64)
    v0 = digits[:10].double()
    velocity = Velocity(*(torch.full_like(p, 0.01) for p in (rbm.weight, rbm.h_bias, rbm.v_bias)))
    old_w = rbm.weight.detach().clone()
    cd_update(plain, v0, lr=0.1, generator=torch.Generator().manual_seed(5))  # the plain increment, same sample
    plain_step = [(p - q).detach() for p, q in zip(plain.parameters(), make_rbm(dtype=torch.float64).parameters())]
    result = cd_update(
        rbm, v0, lr=0.1, weight_decay=0.01, momentum=0.5, velocity=velocity, generator=torch.Generator().manual_seed(5)
    )
    # velocity = momentum * velocity + lr * (gradient - weight_decay * W); the biases get no decay
    expected_w = 0.5 * 0.01 + plain_step[0] - 0.1 * 0.01 * old_w
    torch.testing.assert_close(result.velocity.weight, expected_w)
    torch.testing.assert_close(result.velocity.h_bias, 0.5 * 0.01 + plain_step[1])
    torch.testing.assert_close(rbm.weight.detach(), old_w + expected_w)
    assert result.velocity is velocity  # kept in place for the next update


def test_cd1_lowers_reconstruction_error_and_raises_pseudo_likelihood(digits):
    rbm = make_rbm(n_hidden=64)
    error_before, pll_before = reconstruction_error(rbm, digits).item(), mean_pll(rbm, digits)
    v_bias_before, h_bias_before = rbm.v_bias.detach().clone(), rbm.h_bias.detach().clone()
    errors = []
    for epoch in range(3):
        run_epochs(rbm, digits, epochs=1, lr=0.06, seed=epoch)
        errors.append(reconstruction_error(rbm, digits).item())
    assert errors[0] < 0.6 * error_before and errors[-1] < errors[0], (error_before, errors)
    pll_after = mean_pll(rbm, digits)
    assert pll_after > pll_before + 5, (pll_before, pll_after)  # about -44 (= 64 log 1/2) before
    assert (rbm.v_bias - v_bias_before).abs().max() > 0.1  # both biases learn
    assert (rbm.h_bias - h_bias_before).abs().max() > 0.01


def test_persistent_chain_drives_the_negative_phase(digits):
    rbm = make_rbm(dtype=torch.float64)
    v0 = digits[:10].double()
    chain = start_chain(rbm, 7, torch.Generator().manual_seed(0))  # P = 7 particles, B = 10 examples
    assert chain.shape == (7, 64) and set(chain.unique().tolist()) <= {0.0, 1.0}
    before = [p.detach().clone() for p in (rbm.weight, rbm.h_bias, rbm.v_bias)]
    generator = torch.Generator().manual_seed(1)
    replay = torch.Generator().set_state(generator.get_state())
    result = cd_update(rbm, v0, lr=0.1, chain=chain, generator=generator)
    torch.bernoulli(torch.sigmoid(v0 @ before[0].T + before[1]), generator=replay)  # the data's hidden sample
    chain_hidden = torch.bernoulli(torch.sigmoid(chain @ before[0].T + before[1]), generator=replay)
    new_chain = torch.bernoulli(torch.sigmoid(chain_hidden @ before[0] + before[2]), generator=replay)
    expected, _ = reference_step(*before, v0, None, chain, 0.1, torch.sigmoid, new_chain)
    torch.testing.assert_close(result.chain, new_chain)  # the chain moved one Gibbs step, from where it was
    for got, want in zip((rbm.weight, rbm.h_bias, rbm.v_bias), expected):
        torch.testing.assert_close(got.detach(), want)


def test_persistent_cd_learns_digits(digits):
    rbm = make_rbm(n_hidden=64)
    error_before = reconstruction_error(rbm, digits).item()
    chain = run_epochs(rbm, digits, epochs=2, lr=0.05, chain=start_chain(rbm, 10, torch.Generator().manual_seed(0)))
    assert chain.shape == (10, 64)
    assert reconstruction_error(rbm, digits).item() < 0.7 * error_before


def test_gaussian_visible_rbm_learns_standardised_data(digits):
    data = (digits - digits.mean(0)) / digits.std(0).clamp(min=1e-3)  # (N, 64), unit variance where it varies
    rbm = make_rbm(n_hidden=64, visible="gaussian")
    error_before = reconstruction_error(rbm, data).item()
    run_epochs(rbm, data, epochs=2, lr=0.02, k=1)
    error_after = reconstruction_error(rbm, data).item()
    assert error_after < 0.7 * error_before, (error_before, error_after)
    assert pseudo_log_likelihood(rbm, data) is None  # defined for binary visible units only
    samples = gibbs_samples(rbm, data[:5], steps=3, generator=torch.Generator().manual_seed(0))
    assert np.isfinite(samples.means).all() and not set(samples.state.unique().tolist()) <= {0.0, 1.0}


def test_pseudo_likelihood_matches_scikit_learn(digits):
    rbm = make_rbm(n_hidden=16, dtype=torch.float64)
    run_epochs(rbm, digits.double()[:200], epochs=2, lr=0.1)  # weights away from their start
    data = digits[:300].double()
    sk = BernoulliRBM(n_components=16, n_iter=1, random_state=11).fit(data.numpy())
    sk.components_ = rbm.weight.detach().numpy().copy()
    sk.intercept_hidden_ = rbm.h_bias.detach().numpy().copy()
    sk.intercept_visible_ = rbm.v_bias.detach().numpy().copy()
    flip = np.random.RandomState(11).randint(0, 64, 300)  # the units score_samples flips with random_state=11
    ours = pseudo_log_likelihood_at(rbm, data, torch.from_numpy(flip)).numpy()
    np.testing.assert_allclose(ours, sk.score_samples(data.numpy()), rtol=1e-9, atol=1e-9)


def test_free_energy_gap_grows_when_the_rbm_overfits(digits):
    train, val = digits[:30], digits[1000:1300]
    rbm = make_rbm(n_hidden=100)
    expected = rbm.free_energy(val[:30]).mean() - rbm.free_energy(train).mean()  # equal-sized subsets
    torch.testing.assert_close(free_energy_gap(rbm, train, val), expected.detach())
    gap_before = free_energy_gap(rbm, train, val).item()
    run_epochs(rbm, train, epochs=150, lr=0.1)
    assert free_energy_gap(rbm, train, val).item() > gap_before + 5


def test_views_have_the_shapes_the_figures_take(digits):
    rbm = make_rbm(n_hidden=12)
    images = hidden_weight_images(rbm, (8, 8))
    assert images.shape == (12, 8, 8)
    np.testing.assert_array_equal(images[3].ravel(), rbm.weight[3].detach().numpy())
    with pytest.raises(ValueError, match="holds 49 pixels"):
        hidden_weight_images(rbm, (7, 7))
    recon = reconstructions(rbm, digits[:5])
    assert recon.shape == (5, 64) and ((recon > 0) & (recon < 1)).all()
    start = digits[:4]
    samples = gibbs_samples(rbm, start, steps=5, generator=torch.Generator().manual_seed(0))
    assert samples.means.shape == (4, 64) and set(samples.state.unique().tolist()) <= {0.0, 1.0}
    again = gibbs_samples(rbm, samples.state, steps=0)
    assert torch.equal(again.state, samples.state)  # zero steps leave a chain where it is
