"""Split MNIST under van de Ven & Tolias (2019), "Three scenarios for continual learning".

Five tasks of two digits, MLP 784-400-400, Adam lr 1e-3, batch 128, 2000 iterations per task, test accuracy after
the last task. Runs configs/split_mnist/*.yaml in this process for each seed (logs under runs/benchmarks/) and
prints mean +- std of the final average accuracy beside the published figures. Results are appended to
``<out>/results.jsonl`` as each run ends, so an interrupted benchmark can still be reported (``--report_only``).

    nice python benchmarks/split_mnist.py --seeds 0 1 2
    python benchmarks/split_mnist.py --seeds 0 --batches_per_task 10 --out runs/benchmarks/smoke_split  # smoke
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C  # noqa: E402

# (key, row name, scenario, config, extra model arguments, published final average accuracy in %)
METHODS = [
    ("finetune_task", "None (fine-tuning)", "task", "finetune", {"scenario": "task"}, 85.15),
    ("lwf_task", "LwF", "task", "lwf_task", {}, 99.60),
    ("finetune_class", "None (fine-tuning)", "class", "finetune", {}, 19.90),
    ("lwf_class", "LwF", "class", "lwf_class", {}, 24.17),
    ("icarl", "iCaRL (NME)", "class", "icarl", {}, 94.57),
    ("joint", "Offline (joint)", "class", "joint", {}, 97.93),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data_dir", default="../shared/data")
    parser.add_argument("--batches_per_task", type=int, default=None, help="default: the configs' 2000")
    parser.add_argument("--only", nargs="+", default=None, help="run only these keys, e.g. icarl joint")
    parser.add_argument("--time_budget_min", type=float, default=None,
                        help="start no new seed once the projected total would exceed this many minutes")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 suits a shared machine)")
    parser.add_argument("--out", default="runs/benchmarks/split_mnist")
    parser.add_argument("--report_only", action="store_true", help="print the table of <out>/results.jsonl")
    return parser.parse_args()


def run_one(args: argparse.Namespace, seed: int, name: str, config_name: str, model_extra: dict) -> dict:
    out = os.path.abspath(os.path.join(args.out, f"seed{seed}"))
    config = C.redirect_outputs(C.load_config(f"configs/split_mnist/{config_name}.yaml"), out, name)
    config["seed_everything"] = seed
    config["model"]["init_args"].update(model_extra)
    data = config["data"]["init_args"]
    data["dataset"]["init_args"]["data_dir"] = args.data_dir
    if args.batches_per_task is not None:
        data["batches_per_task"] = args.batches_per_task
    path = C.write_config(config, os.path.join(out, "configs", f"{name}.yaml"))
    print(f"[split_mnist] seed {seed} {name}: lit-kd fit --config {path}", flush=True)
    cli, seconds = C.run_cli(path)
    with open(os.path.join(cli.trainer.log_dir, "continual_metrics.json")) as f:
        report = json.load(f)
    result = {"seed": seed, "key": name, "seconds": seconds, **report}
    print(f"[split_mnist] seed {seed} {name}: final average accuracy {100 * report['average_accuracy']:.2f}% "
          f"in {seconds:.0f} s", flush=True)
    return result


def mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.2f}"  # one seed: no spread to report
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def report(results: list[dict]) -> str:
    rows = []
    for name, row_name, scenario, _, _, paper in METHODS:
        runs = [r for r in results if r["key"] == name]
        if not runs:
            continue
        accs = [100 * r["average_accuracy"] for r in runs]
        extra = ""
        if "head_average_accuracy" in runs[0]:
            extra = f" (head: {mean_std([100 * r['head_average_accuracy'] for r in runs])})"
        seconds = [r["seconds"] for r in runs]
        rows.append([
            f"{scenario}-IL", row_name, f"{paper:.2f}", mean_std(accs) + extra, len(runs),
            f"{statistics.mean(seconds):.0f}",
        ])
    header = ["scenario", "method", "paper (%)", "ours: mean ± std (%)", "seeds", "wall per run (s)"]
    return C.markdown_table(header, rows)


def main() -> None:
    args = parse_args()
    os.chdir(C.REPO)
    results_path = os.path.join(os.path.abspath(args.out), "results.jsonl")
    if not args.report_only:
        C.quiet()
        C.set_threads(args.threads)
        os.makedirs(os.path.dirname(results_path), exist_ok=True)
        methods = [m for m in METHODS if args.only is None or m[0] in args.only]
        start = time.perf_counter()
        for i, seed in enumerate(args.seeds):
            elapsed = time.perf_counter() - start
            if args.time_budget_min and i and elapsed / i * (i + 1) > 60 * args.time_budget_min:
                print(f"[split_mnist] stopping before seed {seed}: another seed would exceed the time budget")
                break
            for name, _, _, config_name, extra, _ in methods:
                result = run_one(args, seed, name, config_name, extra)
                with open(results_path, "a") as f:
                    f.write(json.dumps(result) + "\n")
        print(f"[split_mnist] total wall time {(time.perf_counter() - start) / 60:.1f} min")
    with open(results_path) as f:
        results = [json.loads(line) for line in f if line.strip()]
    if not args.report_only:
        results = [r for r in results if r["seed"] in args.seeds]
    print()
    print(report(results))
    print("\nFinal average accuracy: mean over the 5 tasks of the test accuracy after the last task. "
          "Paper: van de Ven & Tolias (2019), split MNIST results.")
    print("\n" + C.machine_info())


if __name__ == "__main__":
    main()
