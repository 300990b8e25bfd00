import pytest
import torch

from lit_kd.data.transforms import normalize, random_horizontal_flip, random_translate, translate


def one_hot_images(n: int, size: int = 7, row: int = 3, col: int = 3) -> torch.Tensor:
    x = torch.zeros(n, 2, size, size)
    x[:, :, row, col] = 1.0
    return x


def reference_translate(x, dy, dx):
    out = torch.zeros_like(x)
    _, _, h, w = x.shape
    for n in range(len(x)):
        for i in range(h):
            for j in range(w):
                si, sj = i - int(dy[n]), j - int(dx[n])
                if 0 <= si < h and 0 <= sj < w:
                    out[n, :, i, j] = x[n, :, si, sj]
    return out


def test_translate_moves_a_pixel_where_expected():
    x = one_hot_images(4)
    dy, dx = torch.tensor([0, 2, -1, -3]), torch.tensor([0, -2, 3, 1])
    out = translate(x, dy, dx)
    for n in range(4):
        expected = torch.zeros(7, 7)
        expected[3 + dy[n], 3 + dx[n]] = 1.0
        torch.testing.assert_close(out[n, 0], expected)
        torch.testing.assert_close(out[n, 1], expected)


def test_translate_fills_with_zeros_and_keeps_dtype():
    x = torch.full((2, 1, 4, 5), 7, dtype=torch.uint8)
    out = translate(x, torch.tensor([1, -2]), torch.tensor([-1, 0]))
    assert out.dtype == torch.uint8
    assert out[0, 0, 0].eq(0).all() and out[0, 0, :, -1].eq(0).all()  # uncovered top row, right column
    assert out[0, 0, 1:, :-1].eq(7).all()
    assert out[1, 0, -2:].eq(0).all() and out[1, 0, :-2].eq(7).all()


def test_translate_beyond_the_image_gives_zeros():
    out = translate(torch.ones(1, 1, 3, 3), torch.tensor([5]), torch.tensor([0]))
    assert out.eq(0).all()


def test_translate_matches_loop_reference():
    torch.manual_seed(0)
    x = torch.rand(6, 3, 5, 6)
    dy, dx = torch.randint(-3, 4, (6,)), torch.randint(-3, 4, (6,))
    torch.testing.assert_close(translate(x, dy, dx), reference_translate(x, dy, dx))


def test_random_translate_shifts_within_range_and_covers_it():
    torch.manual_seed(0)
    x = one_hot_images(400, size=9, row=4, col=4)
    out = random_translate(x, max_shift=2)
    assert out.shape == x.shape
    positions = out[:, 0].flatten(1).argmax(1)
    assert out[:, 0].flatten(1).sum(1).eq(1).all()  # the pixel never leaves a 9x9 image with a +-2 shift
    rows, cols = positions // 9 - 4, positions % 9 - 4
    assert rows.abs().max() == 2 and cols.abs().max() == 2
    assert set(rows.tolist()) == set(range(-2, 3)) and set(cols.tolist()) == set(range(-2, 3))
    torch.testing.assert_close(out[:, 0], out[:, 1])  # one shift per sample, shared by its channels


def test_random_translate_is_reproducible_and_zero_is_identity():
    x = torch.rand(8, 1, 6, 6)
    torch.manual_seed(3)
    a = random_translate(x, 2)
    torch.manual_seed(3)
    b = random_translate(x, 2)
    torch.testing.assert_close(a, b)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    torch.testing.assert_close(random_translate(x, 2, generator=g1), random_translate(x, 2, generator=g2))
    assert random_translate(x, 0) is x
    with pytest.raises(ValueError, match="max_shift"):
        random_translate(x, -1)


def test_random_horizontal_flip():
    x = torch.arange(3.0).view(1, 1, 1, 3).repeat(64, 2, 2, 1)
    torch.testing.assert_close(random_horizontal_flip(x, p=1.0), x.flip(-1))
    torch.testing.assert_close(random_horizontal_flip(x, p=0.0), x)
    torch.manual_seed(0)
    out = random_horizontal_flip(x)
    flipped = out[:, 0, 0, 0].eq(2)
    assert (out[flipped] == x.flip(-1)[flipped]).all() and (out[~flipped] == x[~flipped]).all()
    assert 0 < flipped.sum() < 64
    with pytest.raises(ValueError, match="`p`"):
        random_horizontal_flip(x, p=1.5)


def test_normalize_per_channel():
    x = torch.stack([torch.full((2, 2), 0.5), torch.full((2, 2), 1.0)]).unsqueeze(0)
    out = normalize(x, (0.5, 0.0), (1.0, 0.25))
    torch.testing.assert_close(out[0, 0], torch.zeros(2, 2))
    torch.testing.assert_close(out[0, 1], torch.full((2, 2), 4.0))
    assert x[0, 0, 0, 0] == 0.5  # out of place
    torch.testing.assert_close(normalize(x, (0.5,), (0.5,)), (x - 0.5) / 0.5)
