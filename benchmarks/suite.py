"""The protocol suite: every default measured on many kinds of photo set, some kept out of tuning.

Each protocol fine-tunes on known models and clusters a test set (the demo splits one set into
known and held-out models). Its role says what it may be used for: defaults are chosen on
`tune` protocols only, and `confirm` protocols (sets drawn with their own seeds, never looked
at while choosing) are reported beside them. For each protocol the default pipeline runs
twice, with the default background removal and with `none`, and the reference method (unit
vectors, PCA to 100 dimensions, KMeans at each k of a grid, k by the best cosine silhouette)
clusters the same plain and fine-tuned features. Records go to benchmarks/results/suite/, one
per protocol x method x preprocess, with a summary in suite.json and a table in the README.

Run `python -m benchmarks.suite --help`; `--quick` runs tiny versions of the generated
protocols (the test suite does).
"""
import argparse
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import config  # noqa: E402
from benchmarks import fashion_mnist, fmnist_data, listings, renders, scenes  # noqa: E402
from benchmarks.background_eval import read_mask  # noqa: E402
from benchmarks.run_facts import git_commit, machine, publish  # noqa: E402
from prodcluster import background, demo, handoff, metrics, stages, updates  # noqa: E402
from prodcluster.fileio import read_json, write_json  # noqa: E402
from prodcluster.settings import (AUGMENTATIONS, BACKBONES, DEFAULTS, EMBEDDING_LOSSES,  # noqa: E402
                                  PREPROCESS_METHODS, Settings)

RESULTS = REPO / "benchmarks" / "results" / "suite"
START, END = "<!-- suite:start -->", "<!-- suite:end -->"
DEFAULT_PREPROCESS = DEFAULTS.preprocess
LARGE_K = 20  # the relative count error is judged from this many true clusters up
LISTING_SIZE = 160  # pixels fed to the network for the generated listings (224-320 px photos): fits an hour


@dataclass(frozen=True)
class Protocol:
    name: str
    role: str  # "tune" or "confirm"
    known: str  # set fine-tuned on (the same as `test` for the demo's split)
    test: str
    image_size: int
    write: Callable  # write(root, quick) writes both sets
    variation: tuple  # what differs between photos of one model (or class), and how the set is made up
    true_masks: bool = True
    needs_fmnist: bool = False


def _listing_writer(kind, n_models, seed, min_photos, max_photos):
    """Writes a test set of `n_models` and a known set of other models (seed + 1000)."""
    def spec(*args):
        return renders.RenderSpec(*args) if kind == "viewpoint" else listings.ListingSpec(kind, *args)

    def write(root, quick):
        models = 5 if quick else n_models
        top = min(max_photos, 6) if quick else max_photos
        listings.write_listing_set(root, f"{kind}_{seed}_test", spec(models, seed, min_photos, top))
        listings.write_listing_set(root, f"{kind}_{seed}_known", spec(max(3, models // 3), seed + 1000, 4,
                                                                      min(top, 12)))
    return write


def _listing_protocol(name, role, kind, n_models, seed, min_photos, max_photos):
    return Protocol(name, role, f"{kind}_{seed}_known", f"{kind}_{seed}_test", LISTING_SIZE,
                    _listing_writer(kind, n_models, seed, min_photos, max_photos), VARIATIONS[kind])


def _write_demo(root, quick):
    options = {"n_models": 6, "photos_per_model": 4} if quick else {}
    folder = Path(root) / "raw_img" / "demo"
    if not folder.is_dir():
        demo.make_demo(folder, mask_folder=scenes.true_mask_folder(root, "demo"), **options)


def _fmnist_args(root, test_count=None):
    return SimpleNamespace(source=fmnist_data.DEFAULT_SOURCE, root=Path(root), per_class=300, overwrite=False,
                           known=",".join(map(str, fmnist_data.DEFAULT_KNOWN_CLASSES)), test_count=test_count)


VARIATIONS = {
    "demo": ("perspective", "colourway", "mixed_background", "overlay"),
    "fmnist": ("product_type",),
    "instances": ("perspective", "light"),
    "scene": ("product_type", "cluttered_background"),
    "studio": ("perspective", "colourway", "studio_tint", "uneven_sizes"),
    "long_tail": ("perspective", "colourway", "mixed_background", "long_tail"),
    "thin_parts": ("perspective", "colourway", "mixed_background", "thin_parts"),
    "viewpoint": ("viewpoint", "real_texture", "colourway", "mixed_background", "long_tail"),
}
PROTOCOLS = (
    Protocol("demo", "tune", "demo", "demo", 224, _write_demo, VARIATIONS["demo"]),
    Protocol("fmnist", "tune", fmnist_data.KNOWN_SET, fmnist_data.TEST_SET, 96,
             lambda root, quick: fashion_mnist.write_plain(_fmnist_args(root)), VARIATIONS["fmnist"], False, True),
    Protocol("instances", "tune", fmnist_data.INSTANCES_KNOWN_SET, fmnist_data.INSTANCES_TEST_SET, 96,
             lambda root, quick: fashion_mnist.write_instances(_fmnist_args(root)), VARIATIONS["instances"],
             False, True),
    Protocol("scene", "tune", scenes.SCENE_KNOWN_SET, scenes.SCENE_TEST_SET, 96,
             lambda root, quick: fashion_mnist.write_scene(_fmnist_args(root, test_count=3000)),
             VARIATIONS["scene"], True, True),
    _listing_protocol("studio_tune", "tune", "studio", 60, 11, 3, 60),
    _listing_protocol("long_tail_tune", "tune", "long_tail", 80, 21, 2, 100),
    _listing_protocol("viewpoint_tune", "tune", "viewpoint", 80, 41, 2, 60),
    _listing_protocol("studio_confirm", "confirm", "studio", 60, 12, 3, 60),
    _listing_protocol("long_tail_confirm", "confirm", "long_tail", 80, 22, 2, 100),
    _listing_protocol("thin_parts_confirm", "confirm", "thin_parts", 40, 33, 3, 40),
    _listing_protocol("viewpoint_confirm", "confirm", "viewpoint", 80, 42, 2, 60),
)
BY_NAME = {protocol.name: protocol for protocol in PROTOCOLS}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", default=",".join(BY_NAME),
                        help="comma-separated protocols to run (default: all): " + ", ".join(BY_NAME))
    parser.add_argument("--quick", action="store_true",
                        help="tiny sets, small photos and one epoch: checks the harness, not the methods")
    parser.add_argument("--root", type=Path, default=REPO / "cache" / "suite", help="work folder of the sets")
    parser.add_argument("--backbone", default=DEFAULTS.backbone,
                        help=f"backbone network, at each protocol's image size: {', '.join(BACKBONES)}, or "
                             "two joined by '+' (default: %(default)s)")
    parser.add_argument("--test-time-flip", action="store_true", help="average each photo's vector with its mirror's")
    parser.add_argument("--calibration-share", type=float, default=DEFAULTS.calibration_share,
                        help="share of the known models held out of fine-tuning to calibrate stage 04's k "
                             "(default: %(default)s)")
    parser.add_argument("--preprocess", default=DEFAULT_PREPROCESS,
                        choices=[method for method in PREPROCESS_METHODS if method != "none"],
                        help="stage 01's method, run beside `none` (default: %(default)s)")
    parser.add_argument("--loss", default=DEFAULTS.embedding_loss, choices=EMBEDDING_LOSSES,
                        help="stage 02's loss (default: %(default)s)")
    parser.add_argument("--augmentations", default=DEFAULTS.augmentations, choices=AUGMENTATIONS,
                        help="stage 02's augmentations (default: %(default)s)")
    parser.add_argument("--self-training", action="store_true",
                        help="fine-tune again on the clearest clusters of each test set, then cluster again")
    parser.add_argument("--results", type=Path,
                        help="where the JSON records go (default: benchmarks/results/suite, or suite_<features> for "
                             "other features than the defaults)")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md",
                        help="README whose suite table is rebuilt (only for the default features)")
    args = parser.parse_args(argv)
    try:
        DEFAULTS.replace(backbone=args.backbone, calibration_share=args.calibration_share).validate()
    except ValueError as error:
        parser.error(str(error))
    args.features = features_name(args.backbone, args.test_time_flip, args.calibration_share, args.loss,
                                  args.preprocess, args.augmentations, args.self_training)
    default_features = args.features == features_name(DEFAULTS.backbone, DEFAULTS.test_time_flip)
    args.results = args.results or (RESULTS if default_features else RESULTS.with_name(f"suite_{args.features}"))
    args.readme = args.readme if default_features else None
    unknown = sorted(set(args.protocols.split(",")) - set(BY_NAME))
    if unknown:
        parser.error(f"unknown protocol(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    return args


def features_name(backbone, test_time_flip, calibration_share=0.0, loss=DEFAULTS.embedding_loss,
                  preprocess=DEFAULT_PREPROCESS, augmentations=DEFAULTS.augmentations,
                  self_training=DEFAULTS.self_training):
    """How records name a run's variant: features, loss, augmentations, what was held out to
    calibrate k, stage 01's method and self-training where not the defaults, e.g.
    efficientnet_lite2+flip or efficientnet_lite0+arcface."""
    return (backbone + ("+flip" if test_time_flip else "") + ("" if loss == DEFAULTS.embedding_loss else f"+{loss}")
            + ("" if augmentations == DEFAULTS.augmentations else f"+{augmentations}_augmentations")
            + (f"+calibration{calibration_share:g}" if calibration_share else "")
            + ("" if preprocess == DEFAULT_PREPROCESS else f"+01{preprocess}")
            + ("+self_training" if self_training else ""))


def protocol_settings(protocol, root, preprocess, quick, **features):
    """(known, test) settings of one protocol run; outputs of each preprocess method live apart."""
    folders = {f"{kind}_dir": f"{folder}_{preprocess}/{{dataset}}" for kind, folder in (
        ("img", "img"), ("data", "data"), ("model", "models"), ("result", "result"), ("train_img", "training_img"))}
    quick_options = {"epochs": 1, "head_epochs": 2, "augmented_views": 1} if quick else {}
    base = Settings.from_config(config, dataset=protocol.test, preprocess=preprocess,
                                image_size=48 if quick else protocol.image_size, **quick_options, **features)
    base = base.replace(root=Path(root).resolve(), **folders)
    if protocol.known == protocol.test:
        return base, base
    return base.replace(dataset=protocol.known, train_fraction=1.0), base.replace(finetuned_from=protocol.known)


def run_protocol(protocol, args, command):
    """Both preprocess methods of one protocol; returns its records."""
    root = args.root / protocol.name
    protocol.write(root, args.quick)
    records, changed = [], True
    for preprocess in (args.preprocess, "none"):
        known, test = protocol_settings(protocol, root, preprocess, args.quick, backbone=args.backbone,
                                        test_time_flip=args.test_time_flip, calibration_share=args.calibration_share,
                                        embedding_loss=args.loss, augmentations=args.augmentations,
                                        self_training=args.self_training)
        if preprocess == "none" and not changed:
            records.append(_same_photos_record(records, args.preprocess))
            continue
        timer = fashion_mnist.Timer()
        facts, changed = _preprocess(protocol, known, test, timer)
        base = {"protocol": protocol.name, "role": protocol.role, "variation": list(protocol.variation),
                "features": args.features, **facts}
        if preprocess == args.preprocess:
            plain = test.replace(use_finetuned=False)
            timer.run("03 plain", lambda: stages.extract_features(plain), facts["test_count"])
            records += _clusterings(plain, timer, command, base, "_no_finetune")
        timer.run("02 fine-tune", lambda: stages.fine_tune(known), len(handoff.load_labels(known)))
        timer.run("03 fine-tuned", lambda: stages.extract_features(test), facts["test_count"])
        if test.self_training:
            stages.cluster(test)
            timer.run("self-training", lambda: updates.self_train(test), facts["test_count"])
        records += _clusterings(test, timer, command, base, "")
    return records


def _preprocess(protocol, known, test, timer):
    """Labels, stage 01 (masks of the test set saved) and the split; (facts, whether any photo changed)."""
    changed = 0
    for settings in ([known] if known is test else [known, test]):
        stages.make_labels(settings)
        rejected = timer.run(f"01 {settings.dataset}", lambda: stages.preprocess(
            settings.replace(save_masks=protocol.true_masks and settings is test), force=True))
        changed += rejected.attrs["outcomes"][background.REMOVED]
    stages.make_training_folders(known)
    facts = fashion_mnist.stage01_facts(test, timer.seconds[f"01 {test.dataset}"], rejected, protocol.true_masks)
    facts["thin_iou_mean"] = _thin_iou(test) if protocol.true_masks else None
    return facts, changed > 0


def _thin_iou(test):
    names = handoff.load_image_list(test)
    true_dir = scenes.true_mask_folder(test.root, test.dataset)
    scores = [listings.thin_part_iou(read_mask(test.masks / f"{Path(name).stem}.png"),
                                     read_mask(true_dir / f"{Path(name).stem}.png")) for name in names
              if (test.masks / f"{Path(name).stem}.png").is_file()]
    scores = [score for score in scores if score is not None]
    return round(sum(scores) / len(scores), 4) if scores else None


def _clusterings(settings, timer, command, base, suffix):
    records, probe = [], _probe_ari(settings)
    for method, cluster_method in (("ours", settings.cluster_method), ("reference", "reference")):
        name = method + suffix
        entry = fashion_mnist.cluster_and_record(settings.replace(cluster_method=cluster_method), timer, name,
                                                 command, base)
        records.append({**entry, "k_error": round(entry["k_pred"] / entry["k_true"] - 1, 4), "probe_ari": probe})
    return records


def _probe_ari(settings):
    """The supervised probe's ARI on the labelled photos' features: what a clustering could reach."""
    features, files = handoff.load_features(settings)
    labels = handoff.load_labels(settings)
    models = labels.set_index("file").loc[files, "model_id"].to_numpy(dtype=str)
    return round(metrics.probe_ari(features[models != ""], models[models != ""], settings.seed), 4)


def _same_photos_record(records, preprocess):
    """The `none` record where the removal changed no photo: the same photos, so the same run."""
    ours = next(entry for entry in records if entry["method"] == "ours")
    return {**ours, "preprocess": "none", "same_photos_as": preprocess}


def summary(records, command, seconds):
    """One row per protocol and the worst cases over all of them."""
    rows = []
    for protocol in dict.fromkeys(entry["protocol"] for entry in records):
        mine = {e["method"]: e for e in records if e["protocol"] == protocol and e["preprocess"] != "none"}
        ours = mine["ours"]
        none = next((e for e in records if e["protocol"] == protocol and e["method"] == "ours"
                     and e["preprocess"] == "none"), None)
        row = {"protocol": protocol, "role": ours["role"], "variation": list(BY_NAME[protocol].variation),
               "k_true": ours["k_true"], "k_pred": ours["k_pred"],
               "k_source": ours.get("k_source", ours["k_criterion"]), "k_error": ours["k_error"],
               "ari_default": ours["ari_all"], "ari_unseen": ours["ari_unseen"],
               "recall_at_1_unseen": ours["recall_at_1_unseen"],
               "recall_at_1_unseen_plain": mine["ours_no_finetune"]["recall_at_1_unseen"],
               "ari_none": none["ari_all"] if none else None,
               "ari_reference": mine["reference"]["ari_all"],
               "ari_default_plain": mine["ours_no_finetune"]["ari_all"],
               "ari_reference_plain": mine["reference_no_finetune"]["ari_all"],
               "k_reference": mine["reference"]["k_pred"],
               "mask_iou_mean": ours["mask_iou_mean"], "thin_iou_mean": ours["thin_iou_mean"],
               "probe_ari": ours["probe_ari"],
               "probe_ari_plain": mine["ours_no_finetune"]["probe_ari"]}
        row["margin_vs_reference"] = round(min(row["ari_default"] - row["ari_reference"],
                                               row["ari_default_plain"] - row["ari_reference_plain"]), 4)
        row["removal_delta"] = None if none is None else round(row["ari_default"] - row["ari_none"], 4)
        rows.append(row)
    large = [abs(row["k_error"]) for row in rows if row["k_true"] >= LARGE_K]
    return {"protocols": rows,
            "worst_margin_vs_reference": min(row["margin_vs_reference"] for row in rows),
            "worst_removal_delta": min((row["removal_delta"] for row in rows if row["removal_delta"] is not None),
                                       default=None),
            "max_abs_k_error": max(large) if large else None, "features": records[0]["features"],
            "seconds": round(seconds, 1), "git_commit": git_commit(),
            "record_commits": list(dict.fromkeys(entry["git_commit"] for entry in records)),
            "command": command, "machine": machine()}


def markdown(suite):
    columns = [("protocol", "protocol"), ("role", "role"), ("k_true", "k true"), ("k_pred", "k pred"),
               ("k_source", "k from"), ("k_reference", "k ref"), ("ari_default", "ARI default"),
               ("ari_none", "ARI 01 none"),
               ("ari_reference", "ARI reference"), ("ari_default_plain", "ARI default, plain"),
               ("ari_reference_plain", "ARI reference, plain"), ("probe_ari", "probe ceiling"),
               ("probe_ari_plain", "probe ceiling, plain"), ("mask_iou_mean", "mask IoU"),
               ("thin_iou_mean", "thin-part IoU")]
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    for row in suite["protocols"]:
        lines.append("| " + " | ".join(_cell(row[key]) for key, _ in columns) + " |")
    cpu = suite["machine"]
    lines += ["", f"Worst margin over the reference {_cell(suite['worst_margin_vs_reference'])}, worst removal "
              f"delta (default - none) {_cell(suite['worst_removal_delta'])}, largest count error where k true >= "
              f"{LARGE_K} {_cell(suite['max_abs_k_error'])}. {_produced(suite)} on {cpu['cpu']}, {cpu['cores']} "
              "cores by:", "",
              "```bash", suite["command"], "```"]
    return "\n".join(lines)


def _produced(suite):
    """When and how long: one run, or (where a run redid some protocols) the commits of the records."""
    commits = suite.get("record_commits", [suite["git_commit"]])
    if commits == [suite["git_commit"]]:
        return f"Produced at {suite['git_commit']} in {suite['seconds'] / 60:.0f} minutes"
    return (f"Rows from runs at {', '.join(commits)} (each record names its own); the last run, at "
            f"{suite['git_commit']}, took {suite['seconds'] / 60:.0f} minutes")


def _cell(value):
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def save(records, args):
    for entry in records:
        write_json(args.results / f"{entry['protocol']}__{entry['method']}__{entry['preprocess']}.json", entry)


def with_earlier_records(records, results):
    """This run's records and, for the protocols it did not run, the records already in `results`, in suite order."""
    ran = {entry["protocol"] for entry in records}
    earlier = [read_json(path) for path in sorted(Path(results).glob("*__*__*.json"))]
    merged = records + [entry for entry in earlier if entry["protocol"] in BY_NAME and entry["protocol"] not in ran]
    order = list(BY_NAME)
    return sorted(merged, key=lambda entry: order.index(entry["protocol"]))


def main(argv=None):
    args = parse_args(argv)
    command = "python -m benchmarks.suite " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    chosen = [BY_NAME[name] for name in args.protocols.split(",")]
    if args.quick:
        chosen = [protocol for protocol in chosen if not protocol.needs_fmnist]
    started, records = time.perf_counter(), []
    for protocol in chosen:
        print(f"== {protocol.name} ({protocol.role})", flush=True)
        records += run_protocol(protocol, args, command.strip())
    save(records, args)
    suite = summary(with_earlier_records(records, args.results), command.strip(), time.perf_counter() - started)
    publish(suite, args.results / "suite.json", args.readme, START, END, markdown(suite))
    return suite


if __name__ == "__main__":
    main()
