"""Load trained weights into a model and freeze it as a teacher.

A checkpoint is code until proven otherwise: everything here reads with ``torch.load(..., weights_only=True)``,
which unpickles tensors and plain containers only and refuses anything that would run code.
"""

import pickle
import zipfile
from pathlib import Path
from typing import Optional, Union

import torch
from torch import Tensor, nn

# State-dict prefixes of lit-kd's own LightningModules, tried in this order when reading a Lightning checkpoint:
# a ClassifierModule stores `model.*`, a KDModule `student.*` (a distilled student can teach the next one).
MODULE_PREFIXES = ("model.", "student.")
UNSAFE_PICKLE = (
    "it holds objects that only a full (unsafe) unpickling could build, which can run arbitrary code. lit-kd only "
    "loads tensors (weights_only=True)"
)


def load_state_dict(path: Union[str, Path], prefix: Optional[str] = None) -> dict[str, Tensor]:
    """Read model weights from a Lightning checkpoint or a plain ``state_dict`` file.

    Args:
        path: a ``.ckpt`` written by ``lit-kd fit`` (or any Lightning checkpoint), or a file saved with
            ``torch.save(model.state_dict(), path)``.
        prefix: the sub-module prefix to extract from a Lightning checkpoint (e.g. ``"model."``). By default the
            first of ``"model."`` and ``"student."`` that is present; a plain ``state_dict`` is used as is.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable checkpoint, or would need unsafe unpickling.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: '{path}'")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        unsafe, reason = describe_load_error(err)
        if unsafe:
            raise ValueError(f"refusing to load '{path}': {UNSAFE_PICKLE}. Details: {reason}") from None
        raise ValueError(f"'{path}' is not a readable PyTorch checkpoint (truncated or corrupt?): {reason}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"'{path}' holds a {type(obj).__name__}, not a state_dict or a Lightning checkpoint")
    state = obj.get("state_dict", obj)
    if not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"'{path}' is not a state_dict: some values are not tensors")
    if "state_dict" not in obj:
        return state
    prefixes = [prefix] if prefix is not None else MODULE_PREFIXES
    for p in prefixes:
        sub = {k[len(p) :]: v for k, v in state.items() if k.startswith(p)}
        if sub:
            return sub
    raise ValueError(
        f"Lightning checkpoint '{path}' has no weights under the prefix(es) {list(prefixes)}; "
        f"its keys start with {sorted({k.split('.')[0] + '.' for k in state})}"
    )


def describe_load_error(err: Exception) -> tuple[bool, str]:
    """Whether a ``torch.load(..., weights_only=True)`` failure refused an unsafe object (rather than met a
    truncated or corrupt file), and the one line of torch's message that says what failed."""
    # torch raises UnpicklingError both for refused objects and for garbage, with a page of advice around the
    # line that matters and without the file's name.
    lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [repr(err)]
    refused = next((line for line in lines if "GLOBAL" in line), None)  # the object it would have to build
    if isinstance(err, pickle.UnpicklingError) and refused is not None:
        return True, refused
    return False, next((line for line in lines if "Unsupported" in line), lines[0])


def load_weights(model: nn.Module, path: Union[str, Path], prefix: Optional[str] = None) -> nn.Module:
    """Load weights from ``path`` into ``model`` strictly, with errors that name the file.

    Raises:
        ValueError: keys are missing or unexpected, or a tensor's shape differs (a checkpoint of another
            architecture or number of classes).
    """
    state = load_state_dict(path, prefix)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(f"missing keys {_short(missing)}")
        if unexpected:
            problems.append(f"unexpected keys {_short(unexpected)}")
        if mismatched:
            problems.append(f"shape mismatches {_short(mismatched)}")
        raise ValueError(
            f"checkpoint '{path}' does not fit {type(model).__name__}: " + "; ".join(problems)
            + ". Is the teacher's class_path/init_args the architecture that produced this checkpoint?"
        )
    model.load_state_dict(state, strict=True)
    return model


def freeze(model: nn.Module) -> nn.Module:
    """Freeze ``model`` in eval mode: no gradients, fixed batch-norm statistics, no dropout."""
    return model.requires_grad_(False).eval()


def _short(items: list[str], limit: int = 5) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return str(items[:limit]) + more
