"""Fashion-MNIST benchmark: how well the pipeline groups product types it never saw.

Protocol: fine-tune on training photos of the known classes (default 0-6) only, then extract
and cluster the whole 10,000-photo test split, where classes 7-9 (sneaker, bag, ankle boot)
are unseen. Every run goes through the same stage code as the numbered scripts, and the
organisers' baseline (original_src/baseline.py) runs on the same test photos. One JSON record
per method lands in benchmarks/results/, and the README's results table is rebuilt from them.

The `scene` protocol pastes the items, colourised, onto real photos (benchmarks/scenes.py) and
keeps their true masks, so stage 01 (`--preprocess`) is scored too: `mask_iou_mean` and
`mask_iou_p10` of the masks it saved on the test set (`--test-count N`: a seeded subset of N
items). For `none` the mask is the whole photo, and its IoU, the item's share of the photo, is
the score of doing nothing. Every record holds `seconds_per_photo_01`, the wall time of stage 01
on the test set (all cores, always redone) over its photos. Besides our map clustering, the
fine-tuned features are clustered by KMeans at the baseline's k = N/70 and by HDBSCAN;
`k_criterion` says how each record's k was set.
"""
import argparse
import resource
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import config  # noqa: E402
from benchmarks import background_eval, fmnist_data, results_table, scenes  # noqa: E402
from benchmarks.run_facts import git_commit, machine  # noqa: E402
from original_src import baseline  # noqa: E402
from prodcluster import background, handoff, stages  # noqa: E402
from prodcluster.fileio import write_json  # noqa: E402
from prodcluster.settings import DEFAULTS, Settings  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


class Protocol(NamedTuple):
    """A pair of data sets: fine-tuning on `known`, clustering `test`."""

    known: str
    test: str
    write: Callable  # writes both sets from the parsed arguments
    true_masks: bool  # the test set has true foreground masks, so stage 01 can be scored


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=fmnist_data.DEFAULT_SOURCE,
                        help="folder with the four Fashion-MNIST idx files (apt-get install dataset-fashion-mnist)")
    parser.add_argument("--root", type=Path, default=REPO, help="work folder for raw_img/, img/, data/, models/")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="plain",
                        help="plain: 10 product types, 3 unseen; instances: 150 distinct items as models "
                             "rendered 10 times each, half of them unseen (many small groups); scene: the plain "
                             "protocol with the items colourised on real photos, stage 01 scored by mask IoU")
    parser.add_argument("--known", default="0,1,2,3,4,5,6", help="comma-separated classes seen in fine-tuning")
    parser.add_argument("--per-class", type=int, default=300, help="training photos per known class")
    parser.add_argument("--test-count", type=int, default=None,
                        help="scene protocol: a seeded subset of this many test items (default: the whole split)")
    parser.add_argument("--overwrite", action="store_true",
                        help="rewrite the photo sets (needed after changing --known, --per-class or --test-count "
                             "under the same --root)")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--preprocess", choices=background.METHODS, default="none", help="stage 01 method")
    parser.add_argument("--cluster-method", default="som")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--baseline-backbone", default="efficientnet_lite0",
                        help="backbone of the baseline run (the original used mobilenet_v2)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-comparators", action="store_true",
                        help="leave out KMeans at k = N/70 and HDBSCAN on the fine-tuned features (minutes at N = 10,000)")
    parser.add_argument("--tag", default="", help="suffix of the result files, to keep several runs apart "
                                                  "(e.g. one per --preprocess)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON records go")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md", help="README whose table is rebuilt")
    parser.add_argument("--feature-layer", default=DEFAULTS.feature_layer,
                        help="layer of the fine-tuned network that stage 03 reads")
    parser.add_argument("--finetune-blocks", type=int, default=DEFAULTS.finetune_blocks,
                        help="backbone blocks trained in the second fine-tuning phase (0: head only)")
    args = parser.parse_args(argv)
    if args.test_count is not None and (args.protocol != "scene" or args.test_count < 1):
        parser.error(f"--test-count must be a positive number of scene test items, with --protocol scene "
                     f"(got {args.test_count} with --protocol {args.protocol})")
    return args


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


def known_classes(args):
    return tuple(int(c) for c in args.known.split(","))


def write_plain(args):
    fmnist_data.make_known(args.source, args.root, per_class=args.per_class, known=known_classes(args), seed=0,
                           overwrite=args.overwrite)
    fmnist_data.make_test(args.source, args.root, overwrite=args.overwrite)


def write_instances(args):
    fmnist_data.make_instances(args.source, args.root, overwrite=args.overwrite)


def write_scene(args):
    # Seed 0 picks the training items of the plain protocol; the test set keeps the default seed, so its
    # photos are the ones `python -m benchmarks.background_eval --count N` scores.
    scenes.make_scene_known(args.source, args.root, per_class=args.per_class, known=known_classes(args), seed=0,
                            overwrite=args.overwrite)
    scenes.make_scene_test(args.source, args.root, count=args.test_count, overwrite=args.overwrite)


PROTOCOLS = {"plain": Protocol(fmnist_data.KNOWN_SET, fmnist_data.TEST_SET, write_plain, False),
             "instances": Protocol(fmnist_data.INSTANCES_KNOWN_SET, fmnist_data.INSTANCES_TEST_SET,
                                   write_instances, False),
             "scene": Protocol(scenes.SCENE_KNOWN_SET, scenes.SCENE_TEST_SET, write_scene, True)}


def prepare(args, timer):
    """Write both sets and run stage 01 on them; return (known, test, stage-01 facts of the test set)."""
    protocol = PROTOCOLS[args.protocol]
    timer.run("write data", lambda: protocol.write(args))
    known = base_settings(args, protocol.known).replace(train_fraction=1.0)
    test = base_settings(args, protocol.test).replace(finetuned_from=protocol.known)
    timer.run(f"01 {known.dataset}", lambda: stages.preprocess(known), len(stages.make_labels(known)))
    step = f"01 {test.dataset}"
    # Forced, so that the time is that of the work even when an earlier run left the outputs.
    rejected = timer.run(step, lambda: stages.preprocess(test.replace(save_masks=protocol.true_masks), force=True),
                         len(stages.make_labels(test)))
    stages.make_training_folders(known)
    return known, test, stage01_facts(test, timer.seconds[step], rejected, protocol.true_masks)


def stage01_facts(test, seconds, rejected, true_masks):
    """Test photos, stage 01 wall seconds per photo and, with true masks, the IoU of the masks stage 01 saved."""
    listed = handoff.load_image_list(test)
    facts = {"test_count": len(listed), "seconds_per_photo_01": round(seconds / len(listed), 5),
             "mask_iou_mean": None, "mask_iou_p10": None}
    if true_masks:
        done = sorted(set(listed) - set(rejected["file"]))
        facts.update(background_eval.folder_mask_scores(test.masks,
                                                        scenes.true_mask_folder(test.root, test.dataset), done))
    return facts


def record(test, timer, method, command, facts):
    """One result record from the metrics that evaluation wrote for the test set."""
    report = stages.evaluate(test)
    info = report["clustering"]
    return {"dataset": test.dataset, "method": method, **_score_fields(report["scores"]),
            "recall_at_1_unseen": report["recall_at_1_unseen"], "k_criterion": info.get("k_criterion"),
            "k_source": info.get("k_criterion"),  # "calibrated", or the criterion that chose k
            **({"calibration": info["calibration"]} if info.get("calibration") else {}),
            **({"self_training": report["features"]["self_training"]} if "self_training" in report["features"]
               else {}),
            "cluster_method": info["method"], "backbone": test.backbone,
            "loss": test.embedding_loss if test.use_finetuned else None,
            "augmentations": test.augmentations if test.use_finetuned else None, "image_size": test.input_size,
            "preprocess": test.preprocess, "feature_source": report["features"]["source"],
            "runtime": report["features"].get("runtime", "keras"), **facts,
            **_run_facts(timer, command)}


def _score_fields(scores):
    return {"ari_all": scores["all"]["ari"], "ari_unseen": _score(scores, "unseen", "ari"),
            "ari_seen": _score(scores, "seen", "ari"), "nmi": scores["all"]["nmi"], "ami": scores["all"]["ami"],
            "acc": scores["all"]["acc"], "k_true": scores["all"]["k_true"], "k_pred": scores["all"]["k_pred"]}


def _score(scores, part, key):
    return scores[part][key] if scores.get(part) else None


def _run_facts(timer, command):
    return {"stage_seconds": dict(timer.seconds), "images_per_second": dict(timer.rates),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "git_commit": git_commit(), "command": command, "machine": machine()}


def cluster_and_record(settings, timer, method, command, facts):
    timer.run(f"04 {method}", lambda: stages.cluster(settings), facts["test_count"])
    return record(settings, timer, method, command, facts)


def run(args, command):
    timer = Timer()
    known, test, facts = prepare(args, timer)
    n_test = facts["test_count"]
    records = []
    plain = test.replace(use_finetuned=False)
    timer.run("03 plain", lambda: stages.extract_features(plain), n_test)
    records.append(cluster_and_record(plain, timer, "ours_no_finetune", command, facts))
    true_k = records[-1]["k_true"]
    records.append(cluster_and_record(plain.replace(cluster_method="kmeans", cluster_k=true_k), timer,
                                      "ours_no_finetune_true_k", command, facts))
    timer.run("02 fine-tune", lambda: stages.fine_tune(known), len(handoff.load_labels(known)))
    timer.run("03 fine-tuned", lambda: stages.extract_features(test), n_test)
    for method, settings in finetuned_clusterings(test, true_k, not args.skip_comparators).items():
        records.append(cluster_and_record(settings, timer, method, command, facts))
    if not args.skip_baseline:
        records.append(run_baseline(args, test, timer, command, facts))
    save(records, args)
    return records


def finetuned_clusterings(test, true_k, comparators=True):
    """Settings of each clustering of the fine-tuned features, by method name in the records."""
    runs = {"ours": test, "ours_true_k": test.replace(cluster_method="kmeans", cluster_k=true_k)}
    if comparators:
        runs.update(ours_kmeans_n70=test.replace(cluster_method="kmeans", cluster_k=None),  # k = N/70, as the baseline
                    ours_hdbscan=test.replace(cluster_method="hdbscan", cluster_k=None))
    return runs


def run_baseline(args, test, timer, command, facts):
    report = timer.run("baseline", lambda: baseline.run(test, backbone=args.baseline_backbone),
                       facts["test_count"])
    return {"dataset": test.dataset, "method": "baseline", **_score_fields(report["scores"]),
            "recall_at_1_unseen": None, "k_criterion": "N/70", "cluster_method": "kmeans",
            "backbone": report["backbone"], "image_size": report["image_size"], "preprocess": test.preprocess,
            "feature_source": "pretrained", **facts, **_run_facts(timer, command)}


def save(records, args):
    for entry in records:
        name = f"{entry['dataset']}__{entry['method']}{'__' + args.tag if args.tag else ''}.json"
        write_json(args.results / name, entry)
        print(f"{entry['method']:>24}: ARI all {entry['ari_all']:.4f}  unseen {_fmt(entry['ari_unseen'])}  "
              f"seen {_fmt(entry['ari_seen'])}  k {entry['k_pred']}/{entry['k_true']} (by {entry['k_criterion']})")
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
