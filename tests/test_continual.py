import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from helpers import trainer_kwargs
from lit_kd import ContinualMetrics, ContinualModule, ICaRLModule, LwFModule
from lit_kd.data import ClassIncrementalDataModule, DigitsDataModule
from lit_kd.models import MLP

TASKS, EPOCHS = 5, 2


def split_digits(**kwargs):
    return ClassIncrementalDataModule(DigitsDataModule(batch_size=64), num_tasks=TASKS, epochs_per_task=EPOCHS, **kwargs)


def mlp():
    return MLP(in_features=64, hidden_sizes=(32,), num_classes=10)


def sequence_trainer(tmp_path, **overrides):
    overrides = {"max_epochs": TASKS * EPOCHS, "reload_dataloaders_every_n_epochs": 1, **overrides}
    return Trainer(**trainer_kwargs(tmp_path, **overrides))


class OldModelProbe(Callback):
    def __init__(self):
        self.old, self.model = {}, {}

    def on_train_epoch_end(self, trainer, module):
        self.old[trainer.current_epoch] = [p.detach().clone() for p in module.old_model.parameters()]
        self.model[trainer.current_epoch] = [p.detach().clone() for p in module.model.parameters()]


def test_lwf_old_model_is_a_frozen_snapshot_taken_at_the_task_boundary(tmp_path):
    seed_everything(0)
    module = LwFModule(mlp(), scenario="class")
    probe = OldModelProbe()
    sequence_trainer(tmp_path, callbacks=[probe], limit_val_batches=0).fit(module, datamodule=split_digits())
    for epoch in range(EPOCHS, TASKS * EPOCHS):
        task_start = epoch - epoch % EPOCHS
        # Throughout a task, the snapshot equals the model at the end of the previous task ...
        for old, trained in zip(probe.old[epoch], probe.model[task_start - 1]):
            assert torch.equal(old, trained)
    # ... so it never trains: it is frozen, in eval mode and outside the optimizer.
    assert all(not p.requires_grad for p in module.old_model.parameters()) and not module.old_model.training
    optimised = {id(p) for g in module.trainer.optimizers[0].param_groups for p in g["params"]}
    assert optimised == {id(p) for p in module.model.parameters()}


def test_task_incremental_masking_and_head_training():
    module = ContinualModule(mlp(), scenario="task")
    module.class_to_task.copy_(torch.arange(10) // 2)
    logits = torch.randn(4, 10)
    task_ids = torch.tensor([0, 3, 3, 4])
    masked = module.masked_logits(logits, task_ids)
    for row, task in zip(masked, task_ids):
        allowed = torch.isfinite(row)
        assert allowed.tolist() == [c // 2 == task for c in range(10)]
    preds = masked.argmax(-1)
    assert ((preds // 2) == task_ids).all()  # the task id decides the head


def test_class_incremental_masks_unseen_classes():
    module = ContinualModule(mlp(), scenario="class")
    module.class_to_task.copy_(torch.arange(10) // 2)
    module.num_seen_tasks.fill_(2)
    masked = module.masked_logits(torch.randn(3, 10), torch.zeros(3, dtype=torch.long))
    assert torch.isfinite(masked[:, :4]).all() and torch.isinf(masked[:, 4:]).all()
    probs = module.predict_step((torch.randn(3, 1, 8, 8), None, None, torch.zeros(3, dtype=torch.long)), 0)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    assert (probs[:, 4:] == 0).all()


def test_task_il_loss_reaches_only_the_current_head(tmp_path):
    seed_everything(0)
    module = ContinualModule(mlp(), scenario="task")
    trainer = sequence_trainer(tmp_path)
    module.class_to_task.copy_(torch.arange(10) // 2)
    module.trainer = trainer
    module.epochs_per_task = EPOCHS
    module.log = lambda *args, **kwargs: None  # no loop is running to collect logs
    trainer.fit_loop.epoch_progress.current.completed = 2 * EPOCHS  # task 2
    x, y = torch.randn(8, 1, 8, 8), torch.randint(4, 6, (8,))
    module.training_step((x, y, torch.arange(8), torch.full((8,), 2)), 0).backward()
    grad = module.model.head.weight.grad.abs().sum(1)
    assert (grad[4:6] > 0).all() and (grad[:4] == 0).all() and (grad[6:] == 0).all()


def test_icarl_memory_budget_and_matrix_and_metrics_files(tmp_path):
    seed_everything(0)
    module = ICaRLModule(mlp(), memory_size=30)
    sizes = []

    class Budget(Callback):
        def on_train_epoch_end(self, trainer, module):
            if module.is_task_end():
                seen = 2 * (module.current_task + 1)
                per_class = [len(module.memory.indices(c)) for c in range(seen)]
                sizes.append(per_class)

    from lightning.pytorch.loggers import TensorBoardLogger

    trainer = sequence_trainer(tmp_path, callbacks=[Budget(), ContinualMetrics()],
                               logger=TensorBoardLogger(tmp_path, name="icarl"))
    trainer.fit(module, datamodule=split_digits())
    # 30 exemplars split over the classes seen: 15, 7, 5, 3, 3 per class.
    assert sizes == [[15] * 2, [7] * 4, [5] * 6, [3] * 8, [3] * 10]
    # Exemplars are training samples of their own class.
    dm = trainer.datamodule
    for c in range(10):
        idx = module.memory.indices(c)
        assert (dm.label_map[dm.dataset.train_dataset.targets[idx]] == c).all()
    R = module.accuracy_matrix[:TASKS, :TASKS]
    assert torch.isfinite(R.tril()).all() and torch.isnan(R.triu(1)[R.triu(1) != 0]).all()
    assert R[-1].mean() > 0.4  # well above fine-tuning's ~0.2 on the same split
    log_dir = tmp_path / "icarl" / "version_0"
    import json

    report = json.loads((log_dir / "continual_metrics.json").read_text())
    assert report["tasks_done"] == TASKS
    assert report["average_accuracy"] == pytest.approx(R[-1].mean().item(), abs=1e-6)
    assert (log_dir / "accuracy_matrix.csv").read_text().count("\n") == TASKS + 1
    assert (log_dir / "head_accuracy_matrix.csv").exists()
    result = trainer.test(module, datamodule=trainer.datamodule, verbose=False)[0]
    assert {"test/acc", "test/head_acc", "test/acc_task4"} <= set(result)


def test_icarl_bad_arguments():
    with pytest.raises(ValueError, match="`memory_size`=5 cannot hold one exemplar for each of the 10 classes"):
        ICaRLModule(mlp(), memory_size=5)
    with pytest.raises(ValueError, match="`loss` must be"):
        ICaRLModule(mlp(), loss="focal")
    with pytest.raises(ValueError, match="has no `forward_features`"):
        ICaRLModule(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), num_classes=10)


@pytest.mark.parametrize("module_class", [ICaRLModule, LwFModule])
def test_resume_mid_sequence_ends_with_the_same_accuracy_matrix(tmp_path, module_class):
    def run(root, stop_after_epoch=None, ckpt_path=None):
        seed_everything(0)
        module = module_class(mlp(), **({"memory_size": 40} if module_class is ICaRLModule else {"scenario": "class"}))
        callbacks = [ModelCheckpoint(dirpath=root, save_last=True, save_top_k=0)]
        if stop_after_epoch is not None:
            callbacks.append(StopAfter(stop_after_epoch))
        trainer = sequence_trainer(root, enable_checkpointing=True, callbacks=callbacks)
        trainer.fit(module, datamodule=split_digits(), ckpt_path=ckpt_path)
        return module, trainer

    full, _ = run(tmp_path / "full")
    # Stop after the first epoch of task 2 (epoch 4), then resume from last.ckpt in a fresh process state.
    _, interrupted = run(tmp_path / "cut", stop_after_epoch=2 * EPOCHS)
    assert interrupted.current_epoch == 2 * EPOCHS + 1
    resumed, _ = run(tmp_path / "cut", ckpt_path=str(tmp_path / "cut" / "last.ckpt"))
    torch.testing.assert_close(resumed.accuracy_matrix, full.accuracy_matrix, equal_nan=True)
    for a, b in zip(resumed.model.parameters(), full.model.parameters()):
        torch.testing.assert_close(a, b)
    if module_class is ICaRLModule:
        assert torch.equal(resumed.memory.indices(), full.memory.indices())


class StopAfter(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True
