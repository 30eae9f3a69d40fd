"""Loss values and gradients against numbers worked out by hand."""

import math

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES, get_loss


def test_registry_lists_both_losses_and_rejects_unknown_names():
    assert {"minimax", "nonsaturating"} <= set(LOSSES)
    with pytest.raises(GanforgeError, match="unknown loss 'wasserstein'.*minimax, nonsaturating"):
        get_loss("wasserstein")


@pytest.mark.parametrize("name", ["minimax", "nonsaturating"])
def test_discriminator_loss_is_binary_cross_entropy(name):
    # D(x) = σ(0) = 1/2 and D(G(z)) = σ(log 3) = 3/4: −log(1/2) − log(1 − 3/4) = log 2 + log 4
    real, fake = torch.tensor([0.0]), torch.tensor([math.log(3.0)])
    value = get_loss(name).discriminator_loss(real, fake)
    assert value.item() == pytest.approx(math.log(2) + math.log(4), rel=1e-6)


def test_generator_losses_by_hand():
    fake = torch.tensor([math.log(3.0), 0.0])  # D(G(z)) = 3/4 and 1/2
    minimax = get_loss("minimax").generator_loss(fake)
    nonsaturating = get_loss("nonsaturating").generator_loss(fake)
    assert minimax.item() == pytest.approx((math.log(1 / 4) + math.log(1 / 2)) / 2, rel=1e-6)
    assert nonsaturating.item() == pytest.approx((-math.log(3 / 4) - math.log(1 / 2)) / 2, rel=1e-6)


def test_losses_stay_finite_for_extreme_logits():
    logits = torch.tensor([-200.0, 200.0])
    for loss in (get_loss("minimax"), get_loss("nonsaturating")):
        assert torch.isfinite(loss.discriminator_loss(logits, logits))
        assert torch.isfinite(loss.generator_loss(logits))


def test_nonsaturating_keeps_gradient_where_minimax_vanishes():
    # When D confidently rejects fakes (D(G(z)) = σ(−8) ≈ 3e-4), minimax's gradient is ≈ D(G(z)), tiny;
    # the non-saturating one is ≈ −1 (Goodfellow et al. 2014, section 3).
    grads = {}
    for name in ("minimax", "nonsaturating"):
        logit = torch.tensor([-8.0], requires_grad=True)
        get_loss(name).generator_loss(logit).backward()
        grads[name] = logit.grad.item()
    assert grads["minimax"] == pytest.approx(-torch.sigmoid(torch.tensor(-8.0)).item(), rel=1e-5)
    assert grads["nonsaturating"] == pytest.approx(-(1 - torch.sigmoid(torch.tensor(-8.0)).item()), rel=1e-5)
    assert abs(grads["nonsaturating"]) > 1000 * abs(grads["minimax"])
