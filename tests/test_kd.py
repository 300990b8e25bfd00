from functools import partial

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from helpers import trainer_kwargs
from lit_kd import ClassifierModule, DistillationMonitor, KDModule
from lit_kd.data import DigitsDataModule
from lit_kd.losses import soft_target_loss
from lit_kd.models import MLP, SmallCNN


def student():
    return MLP(in_features=64, hidden_sizes=(16,), num_classes=10)


def teacher():
    # Batch norm and dropout: their state must not change while distilling.
    return SmallCNN(in_channels=1, num_classes=10, width=8, dropout=0.3)


@pytest.fixture(scope="module")
def teacher_checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("teacher")
    seed_everything(0)
    module = ClassifierModule(teacher(), num_classes=10, optimizer=partial(torch.optim.Adam, lr=0.01))
    trainer = Trainer(**trainer_kwargs(tmp, max_epochs=3, enable_checkpointing=True,
                                       callbacks=[ModelCheckpoint(dirpath=tmp, filename="teacher")]))
    trainer.fit(module, datamodule=DigitsDataModule(batch_size=64))
    return str(tmp / "teacher.ckpt")


def test_teacher_is_frozen_and_bit_identical_after_training(tmp_path, teacher_checkpoint):
    module = KDModule(student(), teacher(), teacher_checkpoint=teacher_checkpoint, temperature=4.0)
    before = {k: v.clone() for k, v in module.teacher.state_dict().items()}
    assert any("running_mean" in k for k in before)  # the test must cover batch-norm buffers
    Trainer(**trainer_kwargs(tmp_path)).fit(module, datamodule=DigitsDataModule(batch_size=64))
    after = module.teacher.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key
    assert not module.teacher.training
    assert all(not p.requires_grad for p in module.teacher.parameters())
    optimizer = module.trainer.optimizers[0]
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimised == {id(p) for p in module.student.parameters()}


def test_loss_is_weighted_sum_of_soft_and_hard(teacher_checkpoint):
    torch.manual_seed(0)
    module = KDModule(student(), teacher(), teacher_checkpoint=teacher_checkpoint, temperature=3.0,
                      distillation_weight=0.7)
    x, y = torch.randn(5, 1, 8, 8), torch.randint(0, 10, (5,))
    out = module.training_step((x, y, torch.arange(5)), 0)
    s, t = module.student(x), module.teacher(x)
    soft = soft_target_loss(s, t, 3.0)
    hard = torch.nn.functional.cross_entropy(s, y)
    torch.testing.assert_close(out["loss"], 0.7 * soft + 0.3 * hard)
    torch.testing.assert_close(out["soft_target_loss"], soft)
    # Gradients reach the student only.
    out["loss"].backward()
    assert all(p.grad is not None for p in module.student.parameters())
    assert all(p.grad is None for p in module.teacher.parameters())


def test_checkpoint_holds_no_teacher_and_resumes_strictly(tmp_path, teacher_checkpoint):
    seed_everything(0)
    module = KDModule(student(), teacher(), teacher_checkpoint=teacher_checkpoint)
    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    Trainer(**trainer_kwargs(tmp_path, max_epochs=1, enable_checkpointing=True, callbacks=[ckpt])).fit(
        module, datamodule=DigitsDataModule(batch_size=64)
    )
    state = torch.load(tmp_path / "last.ckpt", weights_only=True)["state_dict"]
    assert state and not [k for k in state if k.startswith("teacher.")]
    assert any(k.startswith("student.") for k in state)

    resumed = KDModule(student(), teacher(), teacher_checkpoint=teacher_checkpoint)
    trainer = Trainer(**trainer_kwargs(tmp_path, max_epochs=2))
    trainer.fit(resumed, datamodule=DigitsDataModule(batch_size=64), ckpt_path=str(tmp_path / "last.ckpt"))
    assert trainer.current_epoch == 2

    # Strict loading still catches a missing student key.
    broken = torch.load(tmp_path / "last.ckpt", weights_only=True)
    del broken["state_dict"]["student.head.weight"]
    torch.save(broken, tmp_path / "broken.ckpt")
    with pytest.raises(RuntimeError, match="student.head.weight"):
        Trainer(**trainer_kwargs(tmp_path, max_epochs=3)).fit(
            KDModule(student(), teacher(), teacher_checkpoint=teacher_checkpoint),
            datamodule=DigitsDataModule(batch_size=64),
            ckpt_path=str(tmp_path / "broken.ckpt"),
        )


def test_distillation_improves_agreement_and_logs_monitor_metrics(tmp_path, teacher_checkpoint):
    seed_everything(0)
    module = KDModule(student(), teacher(), teacher_checkpoint=teacher_checkpoint, distillation_weight=1.0,
                      optimizer=partial(torch.optim.Adam, lr=0.01))
    trainer = Trainer(**trainer_kwargs(tmp_path, max_epochs=4, callbacks=[DistillationMonitor()]))
    trainer.fit(module, datamodule=DigitsDataModule(batch_size=64))
    metrics = trainer.callback_metrics
    for name in ["train/soft_target_loss_epoch", "train/hard_target_loss_epoch", "train/agreement_epoch",
                 "train/teacher_entropy_epoch", "val/acc", "val/teacher_acc"]:
        assert name in metrics, name
    assert metrics["train/agreement_epoch"] > 0.8  # chance is 0.1
    assert 0 < metrics["train/teacher_entropy_epoch"] < torch.log(torch.tensor(10.0))
    result = trainer.test(module, datamodule=DigitsDataModule(batch_size=64), verbose=False)[0]
    assert result["test/acc"] > 0.5 and result["test/teacher_acc"] > 0.5
    probs = torch.cat(trainer.predict(module, datamodule=DigitsDataModule(batch_size=64)))
    torch.testing.assert_close(probs.sum(-1), torch.ones(len(probs)))


class CosineKD(KDModule):
    """A user's subclass: swap the distance in a few lines."""

    def distillation_loss(self, student_logits, teacher_logits):
        return 1 - torch.nn.functional.cosine_similarity(student_logits, teacher_logits, dim=-1).mean()


def test_subclass_replaces_distillation_loss(teacher_checkpoint):
    module = CosineKD(student(), teacher(), teacher_checkpoint=teacher_checkpoint, distillation_weight=1.0)
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    out = module.training_step((x, y, torch.arange(4)), 0)
    s, t = module.student(x), module.teacher(x)
    expected = 1 - torch.nn.functional.cosine_similarity(s, t, dim=-1).mean()
    torch.testing.assert_close(out["loss"], expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0.0}, "`temperature` must be > 0"),
        ({"temperature": -2.0}, "`temperature` must be > 0"),
        ({"distillation_weight": 1.5}, r"`distillation_weight` must be in \[0, 1\]"),
        ({"distillation_weight": -0.1}, r"`distillation_weight` must be in \[0, 1\]"),
        ({"distance": "cosine"}, "`distance` must be one of"),
        ({"teacher": MLP(64, (8,), num_classes=7)}, "the teacher predicts 7 classes but the student has num_classes=10"),
        ({"num_classes": 12}, "predicts 10 classes but the data has num_classes=12"),
        ({"teacher_checkpoint": "missing/teacher.ckpt"}, "missing/teacher.ckpt"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, match):
    args = {"student": student(), "teacher": teacher(), **kwargs}
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        KDModule(**args)


def test_teacher_output_cache_reuses_logits_and_refuses_augmentation(tmp_path, teacher_checkpoint):
    module = KDModule(student(), teacher(), teacher_checkpoint=teacher_checkpoint, cache_teacher_outputs=True)
    calls = []
    module.teacher.register_forward_hook(lambda *args: calls.append(1))
    Trainer(**trainer_kwargs(tmp_path, max_epochs=3, limit_val_batches=0)).fit(
        module, datamodule=DigitsDataModule(batch_size=64)
    )
    batches = len(DigitsDataModule(batch_size=64).train_dataloader())
    assert len(calls) == batches  # the teacher ran in the first epoch only
    cached = module.teacher_cache.logits[: 5]
    x = DigitsDataModule(batch_size=64)
    x.setup("fit")
    inputs = x.preprocess(x.train_dataset.inputs[:5])
    torch.testing.assert_close(cached, module.teacher(inputs), rtol=1e-5, atol=1e-5)
