"""Hinton, Vinyals & Dean (2015), section 3, on real MNIST: teacher, scratch student, distilled student.

Runs configs/mnist/{teacher,student,kd}.yaml in this process (logs and checkpoints under runs/benchmarks/) with a
common epoch budget, then prints a markdown table of test errors (out of 10,000) beside the paper's 67 / 146 / 74.

    nice python benchmarks/hinton_mnist.py --data_dir ../shared/data            # the ~1 h CPU run
    python benchmarks/hinton_mnist.py --epochs 1 --limit_train_batches 5       # smoke test
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C  # noqa: E402

PAPER_ERRORS = {"teacher": 67, "student": 146, "kd": 74}
DESCRIPTIONS = {
    "teacher": "teacher 1200-1200, dropout, +-2 px jitter",
    "student": "student 800-800, from scratch, no regularisation",
    "kd": "student 800-800, distilled at T=20",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default="../shared/data")
    parser.add_argument("--epochs", type=int, default=40, help="epochs of each of the three runs (and cosine T_max)")
    parser.add_argument("--limit_train_batches", type=float, default=None, help="smoke tests: batches per epoch")
    parser.add_argument("--limit_test_batches", type=float, default=None, help="smoke tests: test batches")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 suits a shared machine)")
    parser.add_argument("--out", default="runs/benchmarks/hinton_mnist")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    C.quiet()
    C.set_threads(args.threads)
    os.chdir(C.REPO)
    out = os.path.abspath(args.out)
    rows, results = [], {}
    teacher_ckpt = os.path.join(out, "teacher", "checkpoints", "last.ckpt")
    for name in ("teacher", "student", "kd"):
        config = C.redirect_outputs(C.load_config(f"configs/mnist/{name}.yaml"), out, name)
        config["trainer"]["max_epochs"] = args.epochs
        for key in ("limit_train_batches", "limit_test_batches"):
            if getattr(args, key) is not None:
                config["trainer"][key] = getattr(args, key)
        model_args = config["model"]["init_args"]
        model_args["lr_scheduler"]["init_args"]["T_max"] = args.epochs
        if name == "kd":
            model_args["teacher_checkpoint"] = teacher_ckpt
        config["data"]["init_args"]["data_dir"] = args.data_dir
        path = C.write_config(config, os.path.join(out, "configs", f"{name}.yaml"))
        print(f"[hinton_mnist] {name}: lit-kd fit --config {path}", flush=True)
        cli, seconds = C.run_cli(path)
        metrics = {k: float(v) for k, v in cli.trainer.callback_metrics.items() if k.startswith("test/")}
        errors = round((1.0 - metrics["test/acc"]) * 10_000)
        results[name] = {"test_errors": errors, "seconds": seconds, "epochs": args.epochs, **metrics}
        print(f"[hinton_mnist] {name}: {errors} test errors in {seconds / 60:.1f} min", flush=True)
        rows.append([DESCRIPTIONS[name], PAPER_ERRORS[name], errors, args.epochs, f"{seconds / 60:.1f}"])
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    total = sum(r["seconds"] for r in results.values()) / 60
    print()
    print(C.markdown_table(["model", "paper errors", "our errors (/10,000)", "epochs", "wall (min)"], rows))
    print(f"\nTotal wall time {total:.1f} min. Teacher accuracy seen by the KD run: "
          f"{results['kd'].get('test/teacher_acc', float('nan')):.4f}.")
    print("\n" + C.machine_info())


if __name__ == "__main__":
    main()
