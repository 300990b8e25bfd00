import math

import pytest
import torch

from lit_kd.losses import sigmoid_distillation_loss, soft_target_loss, soft_targets


def reference_kd(student, teacher, temperature):
    """T²·KL(p‖q) written out sample by sample in float64, independent of the library's vectorised code."""
    total = 0.0
    for s_row, t_row in zip(student.double().tolist(), teacher.double().tolist()):
        zs = [v / temperature for v in s_row]
        zt = [v / temperature for v in t_row]
        ls = math.log(sum(math.exp(v - max(zs)) for v in zs)) + max(zs)
        lt = math.log(sum(math.exp(v - max(zt)) for v in zt)) + max(zt)
        p = [math.exp(v - lt) for v in zt]
        total += sum(pi * ((ti - lt) - (si - ls)) for pi, ti, si in zip(p, zt, zs))
    return temperature**2 * total / len(student)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0, 20.0])
def test_kl_matches_reference(temperature):
    torch.manual_seed(0)
    s, t = torch.randn(8, 10) * 3, torch.randn(8, 10) * 3
    assert soft_target_loss(s, t, temperature).item() == pytest.approx(reference_kd(s, t, temperature), rel=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0, 20.0])
def test_gradient_is_scaled_softmax_difference(temperature):
    # d/dz_s [T² KL(p‖q)] = T (q − p) / N: the T² factor turns the 1/T² shrinkage into a factor T on logits,
    # i.e. the gradient with respect to z/T is independent of T (Hinton et al. 2015, §2).
    torch.manual_seed(1)
    s = (torch.randn(6, 5) * 2).requires_grad_()
    t = torch.randn(6, 5) * 2
    soft_target_loss(s, t, temperature).backward()
    p = torch.softmax(t.double() / temperature, -1)
    q = torch.softmax(s.detach().double() / temperature, -1)
    expected = (temperature * (q - p) / len(s)).float()
    torch.testing.assert_close(s.grad, expected, rtol=1e-4, atol=1e-6)


def test_soft_ce_differs_from_kl_by_teacher_entropy():
    torch.manual_seed(2)
    s, t, temperature = torch.randn(4, 7), torch.randn(4, 7), 3.0
    p = torch.softmax(t / temperature, -1)
    entropy = -(p * p.log()).sum(-1).mean()
    kl = soft_target_loss(s, t, temperature, "kl")
    ce = soft_target_loss(s, t, temperature, "soft_ce")
    assert ce.item() == pytest.approx((kl + temperature**2 * entropy).item(), rel=1e-5)


def test_mse_on_logits_ignores_temperature():
    s, t = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])
    assert soft_target_loss(s, t, 7.0, "mse").item() == pytest.approx(2.5)


def test_identical_logits_give_zero_kl():
    z = torch.randn(3, 4)
    assert soft_target_loss(z, z.clone(), 2.0).item() == pytest.approx(0.0, abs=1e-6)


def test_sequence_logits_with_mask_average_unmasked_positions():
    torch.manual_seed(3)
    s, t = torch.randn(2, 5, 6), torch.randn(2, 5, 6)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    expected = soft_target_loss(s[mask], t[mask], 2.0)
    torch.testing.assert_close(soft_target_loss(s, t, 2.0, mask=mask), expected)
    torch.testing.assert_close(soft_target_loss(s, t, 2.0), soft_target_loss(s.flatten(0, 1), t.flatten(0, 1), 2.0))


def test_low_precision_logits_are_computed_in_float32():
    torch.manual_seed(4)
    s, t = torch.randn(16, 10) * 5, torch.randn(16, 10) * 5
    loss = soft_target_loss(s.bfloat16(), t.bfloat16(), 20.0)
    assert loss.dtype == torch.float32
    expected = soft_target_loss(s.bfloat16().float(), t.bfloat16().float(), 20.0)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"distance": "cosine"}, "distance"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        soft_target_loss(torch.zeros(2, 3), torch.zeros(2, 3), **kwargs)


def test_shape_mismatch_names_classes():
    with pytest.raises(ValueError, match="number of classes"):
        soft_target_loss(torch.zeros(2, 3), torch.zeros(2, 4))


def test_soft_targets_sum_to_one_and_flatten_with_temperature():
    z = torch.tensor([[4.0, 1.0, 0.0]])
    sharp, flat = soft_targets(z, 1.0), soft_targets(z, 20.0)
    torch.testing.assert_close(sharp.sum(-1), torch.ones(1))
    assert flat.max() < sharp.max() and flat.min() > sharp.min()


def test_icarl_sigmoid_loss_matches_formula():
    torch.manual_seed(5)
    logits, old = torch.randn(4, 6), torch.randn(4, 4)
    y = torch.tensor([4, 5, 4, 5])
    loss = sigmoid_distillation_loss(logits, y, old, num_old_classes=4)
    targets = torch.zeros(4, 6)
    targets[:, :4] = torch.sigmoid(old)
    targets[torch.arange(4), y] = 1.0
    sig = torch.sigmoid(logits)
    expected = -(targets * sig.log() + (1 - targets) * (1 - sig).log()).sum(-1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
