"""Batched augmentation and normalisation for ``(N, C, H, W)`` image tensors on any device.

Everything here works on a whole batch at once (no loop over samples), so the in-memory datamodules can augment
on the accelerator after the batch is transferred. Randomness comes from the global torch RNG of the tensor's
device unless a ``generator`` is passed, so ``seed_everything`` makes runs reproducible.
"""

from collections.abc import Sequence
from typing import Optional, Union

import torch
from torch import Tensor


def translate(x: Tensor, dy: Tensor, dx: Tensor) -> Tensor:
    """Shift every image of a batch by its own whole number of pixels, filling the uncovered border with zeros.

    Args:
        x: ``(N, C, H, W)`` batch, any dtype.
        dy: ``(N,)`` integer shifts down (negative: up).
        dx: ``(N,)`` integer shifts right (negative: left).

    Returns:
        The shifted batch, same shape and dtype: ``out[n, :, i, j] = x[n, :, i - dy[n], j - dx[n]]`` where that
        pixel exists, else 0.

    Example:
        >>> x = torch.arange(1, 10).view(1, 1, 3, 3)
        >>> translate(x, torch.tensor([1]), torch.tensor([-1]))[0, 0].tolist()
        [[0, 0, 0], [2, 3, 0], [5, 6, 0]]
    """
    n, c, h, w = x.shape
    dy = dy.to(device=x.device, dtype=torch.long).view(n, 1)
    dx = dx.to(device=x.device, dtype=torch.long).view(n, 1)
    rows = torch.arange(h, device=x.device) - dy  # source row of each output row, (N, H)
    cols = torch.arange(w, device=x.device) - dx  # source column of each output column, (N, W)
    inside = ((rows >= 0) & (rows < h)).view(n, 1, h, 1) & ((cols >= 0) & (cols < w)).view(n, 1, 1, w)
    # Two gathers keep the (N, C, H, W) layout; clamping only keeps indices legal, the mask zeroes those pixels.
    out = x.gather(2, rows.clamp(0, h - 1).view(n, 1, h, 1).expand(n, c, h, w))
    out = out.gather(3, cols.clamp(0, w - 1).view(n, 1, 1, w).expand(n, c, h, w))
    return out.masked_fill(~inside, 0)


def random_translate(x: Tensor, max_shift: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """Shift each image by independent uniform integer offsets in ``[-max_shift, max_shift]`` (both axes), zero fill.

    The same distribution as torchvision's ``RandomCrop(size, padding=max_shift)``: covers CIFAR's pad-4 random
    crop (``max_shift=4``) and the +-2-pixel MNIST jitter of Hinton et al. (2015) (``max_shift=2``). Apply it
    before normalisation so that the fill is black, as with the padding of ``RandomCrop``.

    Args:
        x: ``(N, C, H, W)`` batch.
        max_shift: largest shift in pixels; 0 returns ``x`` unchanged.
        generator: RNG to draw the shifts from; default is the global RNG of ``x``'s device.
    """
    if max_shift < 0:
        raise ValueError(f"`max_shift` must be >= 0, got {max_shift}")
    if max_shift == 0:
        return x
    device = x.device if generator is None else generator.device
    shifts = torch.randint(-max_shift, max_shift + 1, (2, x.shape[0]), device=device, generator=generator)
    return translate(x, shifts[0], shifts[1])


def random_horizontal_flip(x: Tensor, p: float = 0.5, generator: Optional[torch.Generator] = None) -> Tensor:
    """Mirror each image left-right independently with probability ``p``.

    Args:
        x: ``(N, C, H, W)`` batch.
        p: probability that an image is flipped, in ``[0, 1]``.
        generator: RNG to draw the coin flips from; default is the global RNG of ``x``'s device.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"`p` must be in [0, 1], got {p}")
    device = x.device if generator is None else generator.device
    flip = torch.rand(x.shape[0], device=device, generator=generator).to(x.device) < p
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def normalize(x: Tensor, mean: Union[Sequence[float], Tensor], std: Union[Sequence[float], Tensor]) -> Tensor:
    """Per-channel ``(x - mean) / std``, out of place (the input may be a view of a dataset's storage).

    Args:
        x: floating-point ``(N, C, H, W)`` batch.
        mean: ``C`` channel means (or one value for all channels).
        std: ``C`` channel standard deviations (or one value).
    """
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std
