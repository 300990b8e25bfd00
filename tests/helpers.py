"""Shared test helpers (a plain module: tests/data has a conftest of its own)."""


def trainer_kwargs(tmp_path, **overrides):
    """Small, quiet, CPU-only Trainer settings for tests."""
    kwargs = dict(
        default_root_dir=str(tmp_path),
        accelerator="cpu",
        devices=1,
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    kwargs.update(overrides)
    return kwargs
