"""Fashion-MNIST benchmark: how well the pipeline groups product types it never saw.

Protocol: fine-tune on training photos of the known classes (default 0-6) only, then extract
and cluster the whole 10,000-photo test split, where classes 7-9 (sneaker, bag, ankle boot)
are unseen. Every run goes through the same stage code as the numbered scripts, and the
organisers' baseline (original_src/baseline.py) runs on the same test photos. One JSON record
per method lands in benchmarks/results/, and the README's results table is rebuilt from them.

The `scene` protocol pastes the items, colourised, onto real photos (benchmarks/scenes.py) and
keeps their true masks, so stage 01 (`--preprocess`) is scored too: `mask_iou_mean` and
`mask_iou_p10` of the masks it saved on the test set. For `none` the mask is the whole photo,
and its IoU, the item's share of the photo, is the score of doing nothing. Every record holds
`seconds_per_photo_01`, the wall time of stage 01 on the test set (all cores, always redone)
over its photos. Besides our map clustering, the fine-tuned features are clustered by KMeans at
the baseline's k = N/70 and by HDBSCAN; `k_criterion` says how each record's k was set.
"""
import argparse
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import config  # noqa: E402
from benchmarks import background_eval, fmnist_data, results_table, scenes  # noqa: E402
from original_src import baseline  # noqa: E402
from prodcluster import features, finetune, labels, split, stages  # noqa: E402
from prodcluster.fileio import write_json  # noqa: E402
from prodcluster.settings import Settings  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=fmnist_data.DEFAULT_SOURCE,
                        help="folder with the four Fashion-MNIST idx files (apt-get install dataset-fashion-mnist)")
    parser.add_argument("--root", type=Path, default=REPO, help="work folder for raw_img/, img/, data/, models/")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="plain",
                        help="plain: 10 product types, 3 unseen; instances: 150 distinct items as models "
                             "rendered 10 times each, half of them unseen (many small groups)")
    parser.add_argument("--known", default="0,1,2,3,4,5,6", help="comma-separated classes seen in fine-tuning")
    parser.add_argument("--per-class", type=int, default=300, help="training photos per known class")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--preprocess", default="none")
    parser.add_argument("--cluster-method", default="som")
    parser.add_argument("--epochs", type=int, default=config.EPOCHS)
    parser.add_argument("--baseline-backbone", default="efficientnet_lite0",
                        help="backbone of the baseline run (the original used mobilenet_v2)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--tag", default="", help="suffix of the result files, to keep several protocols apart")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON records go")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md", help="README whose table is rebuilt")
    parser.add_argument("--feature-layer", default=config.FEATURE_LAYER,
                        help="layer of the fine-tuned network that stage 03 reads")
    parser.add_argument("--finetune-blocks", type=int, default=config.FINETUNE_BLOCKS,
                        help="backbone blocks trained in the second fine-tuning phase (0: head only)")
    return parser.parse_args(argv)


def base_settings(args, dataset):
    return Settings.from_config(config, dataset=dataset, backbone=args.backbone, image_size=args.image_size,
                                preprocess=args.preprocess, epochs=args.epochs,
                                cluster_method=args.cluster_method, feature_layer=args.feature_layer,
                                finetune_blocks=args.finetune_blocks).replace(root=args.root.resolve())


class Timer:
    """Wall seconds and photos per second of each stage."""

    def __init__(self):
        self.seconds, self.rates = {}, {}

    def run(self, name, step, n_images=None):
        start = time.perf_counter()
        result = step()
        self.seconds[name] = round(time.perf_counter() - start, 2)
        if n_images:
            self.rates[name] = round(n_images / max(self.seconds[name], 1e-9), 2)
        print(f"[{name}] {self.seconds[name]:.1f} s", flush=True)
        return result


def write_plain(args):
    known_classes = tuple(int(c) for c in args.known.split(","))
    fmnist_data.make_known(args.source, args.root, per_class=args.per_class, known=known_classes, seed=0)
    fmnist_data.make_test(args.source, args.root)


def write_instances(args):
    fmnist_data.make_instances(args.source, args.root)


PROTOCOLS = {"plain": ("fmnist_known", "fmnist_test", write_plain),
             "instances": ("fmnist_instances_known", "fmnist_instances_test", write_instances)}


def prepare(args, timer):
    known_name, test_name, write = PROTOCOLS[args.protocol]
    timer.run("write data", lambda: write(args))
    known = base_settings(args, known_name).replace(train_fraction=1.0)
    test = base_settings(args, test_name).replace(finetuned_from=known_name)
    for settings in (known, test):
        n = len(labels.make_labels(settings))
        timer.run(f"01 {settings.dataset}", lambda s=settings: stages.preprocess(s), n)
    split.make_training_folders(known)
    return known, test


def record(test, timer, method, command, extra=None):
    """One result record from the metrics that evaluation wrote for the test set."""
    report = stages.evaluate(test)
    scores, info = report["scores"], report["clustering"]
    entry = {
        "dataset": test.dataset, "method": method, "ari_all": scores["all"]["ari"],
        "ari_unseen": _score(scores, "unseen", "ari"), "ari_seen": _score(scores, "seen", "ari"),
        "nmi": scores["all"]["nmi"], "ami": scores["all"]["ami"], "acc": scores["all"]["acc"],
        "k_true": scores["all"]["k_true"], "k_pred": scores["all"]["k_pred"],
        "recall_at_1_unseen": report["recall_at_1_unseen"], "k_criterion": info.get("k_criterion"),
        "cluster_method": info["method"], "backbone": test.backbone, "image_size": test.input_size,
        "preprocess": test.preprocess, "feature_source": report["features"]["source"],
        **_run_facts(timer, command), **(extra or {})}
    return entry


def _score(scores, part, key):
    return scores[part][key] if scores.get(part) else None


def _run_facts(timer, command):
    return {"stage_seconds": dict(timer.seconds), "images_per_second": dict(timer.rates),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "git_commit": _git_commit(), "command": command, "machine": machine()}


def machine():
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def _git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def cluster_and_record(test, timer, method, command, n):
    timer.run(f"04 {method}", lambda: stages.cluster(test), n)
    return record(test, timer, method, command)


def run(args, command):
    timer = Timer()
    known, test = prepare(args, timer)
    n_test = len(labels.load_labels(test))
    records = []
    plain = test.replace(use_finetuned=False)
    timer.run("03 plain", lambda: features.extract_features(plain), n_test)
    records.append(cluster_and_record(plain, timer, "ours_no_finetune", command, n_test))
    true_k = plain.replace(cluster_method="kmeans", cluster_k=records[-1]["k_true"])
    records.append(cluster_and_record(true_k, timer, "ours_no_finetune_true_k", command, n_test))
    n_known = len(labels.load_labels(known))
    timer.run("02 fine-tune", lambda: finetune.fine_tune(known), n_known)
    timer.run("03 fine-tuned", lambda: features.extract_features(test), n_test)
    records.append(cluster_and_record(test, timer, "ours", command, n_test))
    records.append(cluster_and_record(test.replace(cluster_method="kmeans", cluster_k=records[-1]["k_true"]),
                                      timer, "ours_true_k", command, n_test))
    if not args.skip_baseline:
        records.append(run_baseline(args, test, timer, command))
    save(records, args)
    return records


def run_baseline(args, test, timer, command):
    report = timer.run("baseline", lambda: baseline.run(test, backbone=args.baseline_backbone), len(
        labels.load_labels(test)))
    scores = report["scores"]
    return {"dataset": test.dataset, "method": "baseline", "ari_all": scores["all"]["ari"],
            "ari_unseen": _score(scores, "unseen", "ari"), "ari_seen": _score(scores, "seen", "ari"),
            "nmi": scores["all"]["nmi"], "ami": scores["all"]["ami"], "acc": scores["all"]["acc"],
            "k_true": scores["all"]["k_true"], "k_pred": scores["all"]["k_pred"], "recall_at_1_unseen": None,
            "k_criterion": "N/70", "cluster_method": "kmeans", "backbone": report["backbone"],
            "image_size": report["image_size"], "preprocess": test.preprocess, "feature_source": "pretrained",
            **_run_facts(timer, command)}


def save(records, args):
    for entry in records:
        name = f"{entry['dataset']}__{entry['method']}{'__' + args.tag if args.tag else ''}.json"
        write_json(args.results / name, entry)
        print(f"{entry['method']:>24}: ARI all {entry['ari_all']:.4f}  unseen {_fmt(entry['ari_unseen'])}  "
              f"seen {_fmt(entry['ari_seen'])}  k {entry['k_pred']}/{entry['k_true']}")
    if args.readme.exists():
        results_table.update_readme(args.readme, args.results)


def _fmt(value):
    return "n/a" if value is None else f"{value:.4f}"


def main(argv=None):
    args = parse_args(argv)
    command = "python -m benchmarks.fashion_mnist " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    run(args, command.strip())


if __name__ == "__main__":
    main()
