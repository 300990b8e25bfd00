"""Speed ratios of lit-kd's hot paths, in one process, as a markdown table.

(a) KD training step / (student training step + teacher forward), MNIST configs' models (target <= 1.10);
(b) KD epoch with the teacher-output cache / scratch-student epoch, no jitter (target <= 1.15);
(c) epoch with the in-memory data path vs torchvision's per-sample DataLoader, same model (target >= 3x faster);
(d) herding 2000 exemplars from 10 classes x 5000 samples x 64-dim features (target < 1 s).

Medians of several repeats; the whole script takes a few minutes on 2 CPU cores.

    nice python benchmarks/speed.py --data_dir ../shared/data
    python benchmarks/speed.py --quick          # smoke test
"""

import argparse
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch import Callback, Trainer, seed_everything  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default="../shared/data")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 suits a shared machine)")
    parser.add_argument("--train_samples", type=int, default=10_000, help="MNIST training samples per epoch")
    parser.add_argument("--quick", action="store_true", help="few repeats, for a smoke test")
    parser.add_argument("--out", default="runs/benchmarks/speed")
    return parser.parse_args()


def teacher_net() -> torch.nn.Module:
    from lit_kd.models import MLP

    return MLP(784, (1200, 1200), 10, dropout=0.5, input_dropout=0.2)  # configs/mnist/teacher.yaml


def student_net() -> torch.nn.Module:
    from lit_kd.models import MLP

    return MLP(784, (800, 800), 10)  # configs/mnist/student.yaml


# --- (a) one training step ------------------------------------------------------------------------------------


def step_ratio(repeats: int, steps: int, batch_size: int = 128) -> dict[str, float]:
    """Per-step times (s) of the KD step, the scratch student step and the teacher forward, interleaved."""
    from lit_kd import ClassifierModule, KDModule

    seed_everything(0)
    x = torch.randn(batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (batch_size,))
    batch = (x, y, torch.arange(batch_size))
    kd = KDModule(student_net(), teacher_net(), temperature=20.0, distillation_weight=0.9, num_classes=10)
    scratch = ClassifierModule(student_net(), num_classes=10)
    teacher = teacher_net().eval()
    kd.train(), scratch.train()
    kd_opt = torch.optim.Adam(kd.student.parameters(), lr=1e-3)
    scratch_opt = torch.optim.Adam(scratch.model.parameters(), lr=1e-3)

    def kd_step(i: int) -> None:
        kd.training_step(batch, i)["loss"].backward()
        kd_opt.step()
        kd_opt.zero_grad(set_to_none=True)

    def scratch_step(i: int) -> None:
        scratch.training_step(batch, i).backward()
        scratch_opt.step()
        scratch_opt.zero_grad(set_to_none=True)

    def teacher_forward(i: int) -> None:
        with torch.no_grad():
            teacher(x)

    fns = {"kd_step": kd_step, "student_step": scratch_step, "teacher_forward": teacher_forward}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up: allocator, Adam state
        for i in range(3):
            fn(i)
    for _ in range(repeats):
        for name, fn in fns.items():  # interleaved, so load from other processes hits all three alike
            start = time.perf_counter()
            for i in range(steps):
                fn(i)
            times[name].append((time.perf_counter() - start) / steps)
    return {k: C.median(v) for k, v in times.items()}


# --- (b), (c) epochs under a Trainer ----------------------------------------------------------------------------


class EpochTimer(Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.times.append(time.perf_counter() - self._start)


def epoch_time(module: Any, datamodule: Any, epochs: int, callbacks: tuple = ()) -> float:
    """Median training-epoch time (s), skipping the first epoch (warm-up; it also fills a teacher cache)."""
    timer = EpochTimer()
    trainer = Trainer(
        accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        callbacks=[timer, *callbacks],
    )
    trainer.fit(module, datamodule=datamodule)
    return C.median(timer.times[1:])


def mnist(args: argparse.Namespace, **kwargs: Any) -> Any:
    from lit_kd.data import MNISTDataModule

    # A large "validation" split (never evaluated) leaves `train_samples` to train on: short, whole epochs.
    return MNISTDataModule(args.data_dir, batch_size=128, val_size=60_000 - args.train_samples, **kwargs)


def cache_ratio(args: argparse.Namespace, epochs: int) -> dict[str, float]:
    from lit_kd import ClassifierModule, KDModule
    from lit_kd.callbacks import DistillationMonitor

    out = {}
    seed_everything(0)
    out["scratch_epoch"] = epoch_time(ClassifierModule(student_net(), num_classes=10), mnist(args), epochs)
    seed_everything(0)
    kd = KDModule(student_net(), teacher_net(), temperature=20.0, num_classes=10, cache_teacher_outputs=True)
    out["kd_cached_epoch"] = epoch_time(kd, mnist(args), epochs)
    seed_everything(0)
    kd = KDModule(student_net(), teacher_net(), temperature=20.0, num_classes=10, cache_teacher_outputs=True)
    # The CLI always adds DistillationMonitor: what `lit-kd fit` users get.
    out["kd_cached_monitor_epoch"] = epoch_time(kd, mnist(args), epochs, callbacks=(DistillationMonitor(),))
    seed_everything(0)
    kd = KDModule(student_net(), teacher_net(), temperature=20.0, num_classes=10, cache_teacher_outputs=False)
    out["kd_uncached_epoch"] = epoch_time(kd, mnist(args), epochs)
    return out


def data_path_ratio(args: argparse.Namespace, epochs: int) -> dict[str, dict[str, float]]:
    from lit_kd import ClassifierModule
    from lit_kd.models import MLP

    models = {
        "MLP 784-100-10 (data-bound)": lambda: MLP(784, (100,), 10),
        "student MLP 800-800 (compute-bound)": student_net,
    }
    out = {}
    for name, make in models.items():
        out[name] = {}
        for in_memory in (True, False):
            seed_everything(0)
            dm = mnist(args, jitter=2, in_memory=in_memory)  # the teacher's data: +-2 px jitter
            out[name][f"in_memory={in_memory}"] = epoch_time(ClassifierModule(make(), num_classes=10), dm, epochs)
    return out


# --- (d) herding --------------------------------------------------------------------------------------------


def herding_time(repeats: int, classes: int = 10, per_class: int = 5000, dim: int = 64, total: int = 2000) -> float:
    from lit_kd.memory import herding_selection

    generator = torch.Generator().manual_seed(0)
    features = [torch.randn(per_class, dim, generator=generator) for _ in range(classes)]
    herding_selection(features[0], total // classes)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for f in features:
            herding_selection(f, total // classes)
        times.append(time.perf_counter() - start)
    return C.median(times)


def main() -> None:
    args = parse_args()
    C.quiet()
    C.set_threads(args.threads)
    os.chdir(C.REPO)
    repeats, steps, epochs = (3, 5, 3) if args.quick else (7, 30, 6)
    wall = time.perf_counter()

    a = step_ratio(repeats, steps)
    ratio_a = a["kd_step"] / (a["student_step"] + a["teacher_forward"])
    print(f"[speed] (a) {a}", flush=True)
    b = cache_ratio(args, epochs)
    print(f"[speed] (b) {b}", flush=True)
    c = data_path_ratio(args, epochs)
    print(f"[speed] (c) {c}", flush=True)
    d = herding_time(repeats)
    print(f"[speed] (d) {d:.3f} s", flush=True)

    ms = lambda s: f"{1000 * s:.1f} ms"  # noqa: E731
    sec = lambda s: f"{s:.2f} s"  # noqa: E731
    ok = lambda good: "yes" if good else "**no**"  # noqa: E731
    rows = [
        ["(a) KD step / (student step + teacher forward), batch 128",
         f"{ms(a['kd_step'])} / ({ms(a['student_step'])} + {ms(a['teacher_forward'])})", f"{ratio_a:.3f}",
         "<= 1.10", ok(ratio_a <= 1.10)],
    ]
    for label, k in (("", "kd_cached_epoch"), (" (+ DistillationMonitor, as the CLI)", "kd_cached_monitor_epoch")):
        r = b[k] / b["scratch_epoch"]
        rows.append([f"(b) KD epoch, teacher cache{label} / scratch epoch",
                     f"{sec(b[k])} / {sec(b['scratch_epoch'])}", f"{r:.3f}", "<= 1.15", ok(r <= 1.15)])
    r = b["kd_uncached_epoch"] / b["scratch_epoch"]
    rows.append(["(b') KD epoch, no cache / scratch epoch (reference)",
                 f"{sec(b['kd_uncached_epoch'])} / {sec(b['scratch_epoch'])}", f"{r:.3f}", "-", "-"])
    for model, t in c.items():
        r = t["in_memory=False"] / t["in_memory=True"]
        rows.append([f"(c) per-sample / in-memory epoch, {model}, jitter 2",
                     f"{sec(t['in_memory=False'])} / {sec(t['in_memory=True'])}", f"{r:.2f}x", ">= 3x", ok(r >= 3)])
    rows.append(["(d) herding 2000 of 10 x 5000 x 64", sec(d), sec(d), "< 1 s", ok(d < 1.0)])
    print()
    print(C.markdown_table(["measurement", "times (median)", "ratio", "target", "met"], rows))
    print(f"\nEpochs: {args.train_samples} MNIST training samples, batch 128, median of epochs 2-{epochs} "
          f"(the first warms up and fills the cache); steps: median of {repeats} repeats of {steps} steps. "
          f"Whole script: {(time.perf_counter() - wall) / 60:.1f} min.")
    print("\n" + C.machine_info())


if __name__ == "__main__":
    main()
