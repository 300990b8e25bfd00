"""Tests for lit_kd.metrics on a hand-computed 3x3 accuracy matrix."""

import math

import pytest
import torch

from lit_kd.metrics import (
    accuracy_matrix_image,
    average_forgetting,
    average_incremental_accuracy,
    backward_transfer,
    final_average_accuracy,
)

NAN = float("nan")

# R[i, j] = accuracy on task j after training task i.
R = torch.tensor(
    [
        [0.90, NAN, NAN],
        [0.95, 0.80, NAN],
        [0.50, 0.70, 0.90],
    ]
)


def test_final_average_accuracy():
    # (0.50 + 0.70 + 0.90) / 3 = 2.10 / 3 = 0.70
    assert final_average_accuracy(R) == pytest.approx(0.70)


def test_average_incremental_accuracy():
    # after task 0: 0.90; after task 1: (0.95 + 0.80) / 2 = 0.875; after task 2: 0.70
    # (0.90 + 0.875 + 0.70) / 3 = 2.475 / 3 = 0.825
    assert average_incremental_accuracy(R) == pytest.approx(0.825)


def test_average_forgetting():
    # task 0: max(0.90, 0.95) - 0.50 = 0.45   (the max is not the diagonal entry)
    # task 1: max(0.80)       - 0.70 = 0.10
    # (0.45 + 0.10) / 2 = 0.275
    assert average_forgetting(R) == pytest.approx(0.275)


def test_backward_transfer():
    # task 0: 0.50 - 0.90 = -0.40; task 1: 0.70 - 0.80 = -0.10; (-0.40 - 0.10) / 2 = -0.25
    assert backward_transfer(R) == pytest.approx(-0.25)


def test_partial_matrix_after_two_tasks():
    # Top-left 2x2 block: [[0.90, -], [0.95, 0.80]]
    # final avg (0.95 + 0.80) / 2 = 0.875; AIA (0.90 + 0.875) / 2 = 0.8875
    # forgetting 0.90 - 0.95 = -0.05 (task 0 improved); BWT 0.95 - 0.90 = +0.05
    for fn, expected in [
        (final_average_accuracy, 0.875),
        (average_incremental_accuracy, 0.8875),
        (average_forgetting, -0.05),
        (backward_transfer, 0.05),
    ]:
        assert fn(R, num_tasks_done=2) == pytest.approx(expected)
        assert fn(R[:2, :2]) == pytest.approx(expected)


def test_single_task():
    # T == 1: accuracies are R[0, 0]; forgetting and BWT are defined as 0.0.
    for R1 in (R[:1, :1], R):
        t = 1 if R1 is R else None
        assert final_average_accuracy(R1, num_tasks_done=t) == pytest.approx(0.90)
        assert average_incremental_accuracy(R1, num_tasks_done=t) == pytest.approx(0.90)
        assert average_forgetting(R1, num_tasks_done=t) == 0.0
        assert backward_transfer(R1, num_tasks_done=t) == 0.0


def test_upper_triangle_is_ignored():
    R2 = R.clone()
    R2[0, 1], R2[0, 2], R2[1, 2] = 0.0, 1.0, 0.3  # values above the diagonal
    for fn in (final_average_accuracy, average_incremental_accuracy, average_forgetting, backward_transfer):
        assert fn(R2) == pytest.approx(fn(R))
        assert not math.isnan(fn(R2))


def test_errors():
    with pytest.raises(ValueError, match="square"):
        final_average_accuracy(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="num_tasks_done"):
        average_forgetting(R, num_tasks_done=4)
    with pytest.raises(ValueError, match="num_tasks_done"):
        backward_transfer(R, num_tasks_done=0)
    with pytest.raises(ValueError):
        average_incremental_accuracy(torch.zeros(0, 0))


def test_accuracy_matrix_image():
    img = accuracy_matrix_image(R, cell=8)
    assert img.shape == (3, 24, 24) and img.dtype == torch.uint8
    colour = lambda i, j: img[:, i * 8 + 3, j * 8 + 3].tolist()  # noqa: E731
    # Higher accuracy (0.95 at (1, 0)) gets a different colour than lower (0.50 at (2, 0)).
    assert colour(1, 0) != colour(2, 0)
    # Equal values give equal colours; NaN cells are grey; cells are uniform squares.
    assert colour(0, 0) == colour(2, 2)
    assert colour(0, 1) == colour(0, 2) == colour(1, 2) == [128, 128, 128]
    assert (img[:, 8:16, 0:8] == img[:, 8, 0].view(3, 1, 1)).all()


def test_accuracy_matrix_image_colour_map():
    ramp = torch.linspace(0, 1, 11).view(1, 11)
    img = accuracy_matrix_image(ramp, cell=1)
    assert img.shape == (3, 1, 11)
    rgb = img[:, 0, :].T.tolist()
    assert rgb[0] == [68, 1, 84] and rgb[-1] == [253, 231, 37]  # viridis ends
    assert len({tuple(c) for c in rgb}) == 11  # all distinct
    # Brightness (R+G+B) increases monotonically like viridis.
    assert all(sum(a) < sum(b) for a, b in zip(rgb, rgb[1:]))
    # Values are clamped to [vmin, vmax]; vmin/vmax allow percentages.
    assert accuracy_matrix_image(torch.tensor([[2.0, -1.0]]), cell=1)[:, 0, :].T.tolist() == [rgb[-1], rgb[0]]
    assert torch.equal(accuracy_matrix_image(ramp * 100, cell=1, vmax=100.0), img)
    with pytest.raises(ValueError, match="cell"):
        accuracy_matrix_image(R, cell=0)
    with pytest.raises(ValueError, match="R"):
        accuracy_matrix_image(torch.zeros(3))
