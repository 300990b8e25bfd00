"""Checkpoint the global random-number generators, so that a resumed run draws the numbers an uninterrupted run
would have drawn (dropout masks, on-device augmentation)."""

import random
from typing import Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer


class RNGStateCheckpoint(Callback):
    """Save the Python, NumPy and torch (CPU and CUDA) RNG states in every checkpoint and restore them on resume.

    Shuffling does not need this (lit-kd's samplers are seeded by the epoch), but dropout and on-device
    augmentation draw from the global generators: without their state a run resumed with ``--ckpt_path last``
    continues from ``seed_everything``'s state and diverges from the uninterrupted run. The states are applied at
    ``on_train_start``, after the sanity check and everything else that runs between loading the checkpoint and the
    first batch. They are stored as tensors and plain Python values, so checkpoints still load with
    ``weights_only=True``. Under DDP the checkpoint holds rank zero's states and every rank resumes from them
    (``seed_everything`` seeds the ranks identically too). The CLI adds this callback to every run.
    """

    def __init__(self) -> None:
        """Takes no arguments; the states to restore arrive with the checkpoint."""
        self._pending: dict[str, Any] = {}

    def state_dict(self) -> dict[str, Any]:
        version, mt_state, gauss = random.getstate()
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state = {
            "python": {"version": version, "state": list(mt_state), "gauss": gauss},
            "numpy": {
                "kind": kind,
                "keys": torch.from_numpy(keys.astype(np.int64)),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "cached": float(cached),
            },
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Kept until training starts: whatever runs before (model set-up, sanity check) must not consume them.
        self._pending = dict(state_dict)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        state, self._pending = self._pending, {}
        if not state:
            return
        python = state["python"]
        random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
        numpy = state["numpy"]
        keys = numpy["keys"].numpy().astype(np.uint32)
        np.random.set_state((numpy["kind"], keys, numpy["pos"], numpy["has_gauss"], numpy["cached"]))
        torch.set_rng_state(state["torch"].cpu())
        cuda = state.get("cuda")
        if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
