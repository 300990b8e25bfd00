"""A per-sample cache of teacher outputs, keyed by dataset index."""

from typing import Optional

import torch
from torch import Tensor, nn


class TeacherOutputCache(nn.Module):
    """Stores the teacher's logits for each training sample the first time it is seen.

    Correct only when a sample's input is the same every epoch (no augmentation). It lives on the module's device
    and grows to the largest index seen, so it needs no dataset size up front. Under DDP each rank caches the
    samples its sampler gives it; a batch with any sample not yet cached is recomputed whole. It is not saved in
    checkpoints: a resumed run rebuilds it during its first epoch.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("logits", torch.empty(0), persistent=False)
        self.register_buffer("filled", torch.empty(0, dtype=torch.bool), persistent=False)

    def get(self, indices: Tensor) -> Optional[Tensor]:
        if len(self.filled) <= int(indices.max()) or not bool(self.filled[indices].all()):
            return None
        return self.logits[indices]

    def put(self, indices: Tensor, logits: Tensor) -> None:
        needed = int(indices.max()) + 1
        if len(self.filled) < needed or self.logits.shape[1:] != logits.shape[1:]:
            self._grow(max(needed, 2 * len(self.filled)), logits)
        self.logits[indices] = logits.detach().float()
        self.filled[indices] = True

    def _grow(self, size: int, like: Tensor) -> None:
        logits = like.new_zeros((size, *like.shape[1:]), dtype=torch.float32)
        filled = torch.zeros(size, dtype=torch.bool, device=like.device)
        if self.logits.shape[1:] == like.shape[1:]:
            logits[: len(self.filled)] = self.logits
            filled[: len(self.filled)] = self.filled
        self.logits, self.filled = logits, filled
