"""Every stage's file work: read what earlier stages wrote, call the module that does the work, write.

Each stage function declares above it the files it reads and writes, by their names in
settings.FILES (files.py); handoff.py reads the hand-off files for it. The modules it calls
(labels, preprocess, split, finetune, features, clustering, metrics, visual, report)
take paths and arrays. Each stage imports the modules it calls inside its function, so a
script loads only what its stage uses (TensorFlow for stages 02 and 03 alone), and stage 01's
worker processes, which import the script that started them, load nothing for nothing.
"""
import logging

import numpy as np
import pandas as pd

from . import labels, split
from .fileio import (
    atomic_path,
    load_npy,
    read_json,
    save_npy,
    write_csv,
    write_json,
    write_lines,
)
from .handoff import (
    CALIBRATION,
    KNOWN,
    known_models,
    load_calibration,
    load_clustered,
    load_features,
    load_image_list,
    load_labels,
    load_rejected,
    load_split,
    plain_features,
    record_rejected,
    rejected_frame,
    reviewed_models,
    trained_on,
)
from .files import Of, declares
from .freshness import fingerprint
from .settings import FEATURE_LAYERS, MODEL_FILES

log = logging.getLogger(__name__)
UNCLUSTERED = -1
AUTO_REASONS = {"grabcut": "most backgrounds are cluttered, so they are removed and every photo ends up on white",
                "none": "most backgrounds are white or studio, so every photo is kept as it is"}


@declares(reads=["raw_img"], writes=["labels", "image_list", "labels_true"], updates=["rejected"])
def make_labels(settings):
    """Stage 00: images.txt, labels.csv and labels_true.txt from the photos' names; return the labels table.

    A photo whose name does not follow MODELID_PRODUCTID_IMAGEID has no true model (empty ids):
    it is clustered like the others and left out of the scores.
    """
    names, outside = labels.list_images(settings.raw_img, settings.img_ext)
    table = labels.labels_table(names)
    write_csv(settings.path("labels"), table)
    write_lines(settings.path("image_list"), table["file"])
    write_lines(settings.path("labels_true"), table["model_id"])
    record_rejected(settings, "00", rejected_frame(
        (name, "00", "symbolic link to a file outside the data folder") for name in outside))
    labelled = table["model_id"] != ""
    print(f"00: {len(table)} photos; {labelled.sum()} named with their model "
          f"({table.loc[labelled, 'model_id'].nunique()} models), {(~labelled).sum()} without (clustered, not scored)"
          + (f"; {len(outside)} refused (symbolic links out of the folder)" if outside else ""))
    return table


@declares(reads=["labels", "raw_img"], writes=["img", "masks"], updates=["rejected"])
def preprocess(settings, force=False):
    """Stage 01: background removal of every listed photo into img/<DATASET> (masks into data/<DATASET>/masks)."""
    from . import engine, preprocess
    files = load_image_list(settings)
    mask_dir = settings.masks if settings.save_masks else None
    with engine.opened(settings) as runner:
        rejected = preprocess.preprocess_folder(settings.raw_img, settings.img, files, method=settings.preprocess,
                                                workers=runner.cpus, mask_dir=mask_dir,
                                                max_pixels=settings.max_image_pixels, force=force,
                                                map_chunks=runner.map_chunks)
        _print_summary(runner, "01")
    record_rejected(settings, "01", rejected[["file", "reason"]])
    if len(rejected) == len(files):
        raise ValueError(f"all {len(files)} photos of {settings.raw_img} were rejected; the reasons are in "
                         f"{settings.path('rejected')}")
    kinds = rejected.attrs["background_kinds"]
    if kinds is not None:
        surveyed = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        print(f"01: auto chose {rejected.attrs['method']} from the backgrounds of {sum(kinds.values())} photos "
              f"({surveyed}): " + AUTO_REASONS[rejected.attrs["method"]])
    outcomes = ", ".join(f"{count} {name}" for name, count in rejected.attrs["outcomes"].items() if count)
    print(f"01: {len(files) - len(rejected)} photos preprocessed ({rejected.attrs['method']}: {outcomes or 'none'}), "
          f"{len(rejected)} rejected" + _rejected_list(settings, rejected[["file", "reason"]].itertuples(index=False)))
    return rejected


def _rejected_list(settings, rows, shown=5):
    """The first `shown` rejected photos with their reasons, and where the rest are: text to print."""
    rows = list(rows)
    if not rows:
        return ""
    lines = [f"\n  {name}: {reason}" for name, reason in rows[:shown]]
    more = f"{len(rows) - shown} more, " if len(rows) > shown else ""
    return ":" + "".join(lines) + f"\n  ({more}all listed in {settings.path('rejected')})"


def _print_summary(runner, stage):
    summary = runner.summary(stage)
    if summary:
        print(summary)


@declares(reads=["labels", "reviewed", "img"], writes=["split", "train_img"])
def make_training_folders(settings):
    """Write split.csv and one folder per known model holding links to its preprocessed photos."""
    table = load_labels(settings)
    models = split.split_models(table.loc[table["model_id"] != "", "model_id"], settings.train_fraction, settings.seed,
                                settings.calibration_share)
    reviewed = reviewed_models(settings)
    if reviewed:  # a reviewed cluster is a known model, whatever the names of its photos say
        table = table[[reviewed.get(name) != "" for name in table["file"]]]  # "": not a product
        table = table.assign(model_id=[reviewed.get(name) or model for name, model in zip(table["file"],
                                                                                          table["model_id"])])
        reviewed = {name: model for name, model in reviewed.items() if model}
        models = pd.concat([models, pd.DataFrame({"model_id": sorted(set(reviewed.values())), "role": KNOWN})],
                           ignore_index=True)
    write_csv(settings.path("split"), models)
    known = set(models.loc[models["role"] == KNOWN, "model_id"])
    calibrating = int((models["role"] == CALIBRATION).sum())
    linked = split.link_training_photos(table, known, settings.img, settings.train_img)
    roles = [f"{len(known)} known"] + ([f"{calibrating} calibration"] if calibrating else [])
    print(f"split: {', '.join(roles)} and {len(models) - len(known) - calibrating} held-out models"
          + (f" ({len(set(reviewed.values()))} of them reviewed clusters)" if reviewed else "")
          + f"; {linked} training photos linked")
    return models, linked


@declares(reads=["split", "train_img"], writes=MODEL_FILES, caches=["cache"])
def fine_tune(settings):
    """Stage 02: fine-tune on the known models; save the network, its classes, history and learning curve.

    Joined backbones are fine-tuned one after the other, each into its own folder; the history
    then names each row's backbone. Too few known photos or models to learn from: no network,
    an empty history, and a warning.
    """
    parts = settings.parts()
    if len(parts) == 1:
        return _fine_tune_one(settings)
    return pd.concat([_fine_tune_one(part).assign(backbone=part.backbone) for part in parts], ignore_index=True)


def _fine_tune_one(settings):
    models = load_split(settings)
    classes = sorted(models.loc[models["role"] == KNOWN, "model_id"])
    if not classes:
        why = (f"TRAIN_FRACTION is {settings.train_fraction}" if len(models) else
               f"no photo of {settings.raw_img} is named MODELID_PRODUCTID_IMAGEID")
        log.warning("02: no known model to learn from (%s): skipped; stage 03 uses the plain pretrained %s",
                    why, settings.backbone)
        return _no_network(settings)
    from . import finetune
    paths, targets = finetune.class_photos(classes, settings.train_img)
    if not finetune.enough_to_learn(len(classes), len(paths), settings):
        return _no_network(settings)
    network, history = finetune.fine_tune(paths, targets, len(classes), settings)
    save_network(settings, network, history, classes)
    return history


def save_network(settings, network, history, classes):
    """The fine-tuned network, its classes (in target order), history and learning curve, into MODEL_DIR."""
    from . import visual
    with atomic_path(settings.path("network")) as tmp:
        network.save(tmp)
    write_json(settings.path("classes"), {
        "classes": list(classes), "backbone": settings.backbone, "image_size": settings.input_size,
        "loss": settings.embedding_loss, "embedding_dim": settings.embedding_dim,
        "finetune_blocks": settings.finetune_blocks, "feature_layers": list(FEATURE_LAYERS)})
    write_csv(settings.path("history"), history)
    visual.plot_learning_curve(history, settings.path("learning_curve"))


def _no_network(settings):
    """Remove an earlier run's network, so that stage 03 does not read it; an empty history."""
    for name in MODEL_FILES:
        settings.path(name).unlink(missing_ok=True)
    return pd.DataFrame()


def _network_data_set(settings):
    """The data set whose fine-tuned network stage 03 reads; None where it reads no fine-tuned network."""
    return (settings.finetuned_from or settings.dataset) if settings.use_finetuned else None


def _calibration_data_set(settings):
    """The data set whose split names the calibration models (the one the network learnt from); None: off."""
    return (settings.finetuned_from or settings.dataset) if settings.calibration_share else None


@declares(reads=["labels", "img", Of("network", _network_data_set), Of("classes", _network_data_set),
                 Of("split", _calibration_data_set), Of("labels", _calibration_data_set),
                 Of("img", _calibration_data_set)],
          writes=["features", "feature_files", "features_info", "calibration_features", "calibration_files"],
          updates=["rejected"], caches=["cache"])
def extract_features(settings):
    """Stage 03: features.npy (float32, rows = readable photos in list order), feature_files.txt, features.json.

    Rows go straight into a memory-mapped file, so memory does not grow with the number of
    photos; photos that cannot be read are listed as rejected and left out. Where the split of
    the network's data set holds calibration models, their photos' vectors go to calibration.npy
    and calibration.csv, for stage 04.
    """
    from . import engine, features
    files = load_image_list(settings)
    present = [name for name in files if (settings.img / name).exists()]
    if not present:
        raise FileNotFoundError(f"none of the {len(files)} listed photos is in {settings.img}: "
                                "run 01_img_preprocess.py first")
    description = features.feature_source(settings)
    with engine.opened(settings) as runner, atomic_path(settings.path("features")) as tmp:
        # tmp is not renamed into place if this raises
        rows, errors, dim = features.write_features(runner.photo_vectors, settings,
                                                    [settings.img / name for name in present], tmp)
        rejected = [(present[row], "03", reason) for row, reason in errors]
        rejected += [(name, "03", "no preprocessed photo (rejected by stage 01)")
                     for name in sorted(set(files) - set(present))]
        record_rejected(settings, "03", rejected_frame(rejected))
        if not rows:
            raise ValueError(f"none of the {len(files)} photos of {settings.img} could be read: the reasons are in "
                             f"{settings.path('rejected')}")
        calibrating = _write_calibration(runner.photo_vectors, settings)
        _print_summary(runner, "03")
    kept = [present[row] for row in rows]
    write_lines(settings.path("feature_files"), kept)
    info = {**description, **({"test_time_flip": True} if settings.test_time_flip else {}),
            "normalized": True, "n_images": len(kept), "dim": dim,
            **({"runtime": runner.runtime} if runner.runtime != "keras" else {}),
            "rejected": len(rejected), **({"calibration_photos": calibrating} if calibrating else {})}
    write_json(settings.path("features_info"), info)
    print(f"03: {info['n_images']} x {info['dim']} features from the {info['source']} {info['backbone']}, "
          f"{len(rejected)} rejected" + _rejected_list(settings, ((name, reason) for name, _, reason in rejected)))
    return info


def _write_calibration(photo_vectors, settings):
    """Vectors of the calibration models' photos, and their ids; removes an earlier run's where there are none.

    Returns how many photos were written.
    """
    from . import features
    data_set = _calibration_data_set(settings)
    source = settings.replace(dataset=data_set or settings.dataset)
    models = known_models(source, CALIBRATION) if data_set else set()
    table = load_labels(source) if models else None
    if models:
        table = table[table["model_id"].isin(models) & np.array([(source.img / name).is_file()
                                                                   for name in table["file"]])]
    if not models or table.empty:
        for name in ("calibration_features", "calibration_files"):
            settings.path(name).unlink(missing_ok=True)
        return 0
    with atomic_path(settings.path("calibration_features")) as tmp:
        rows, _, _ = features.write_features(photo_vectors, settings, [source.img / name for name in table["file"]],
                                             tmp)
    write_csv(settings.path("calibration_files"), table.iloc[rows][["file", "model_id"]])
    return len(rows)


@declares(reads=["features", "feature_files", "features_info", "labels", "reviewed", "calibration_features",
                 "calibration_files"],
          writes=["predictions", "labels_pred", "clustering", "som_weights", "som_node_labels", "k_chart"])
def cluster(settings):
    """Stage 04: cluster the features; write predictions, labels_pred.txt and the map."""
    from . import clustering, visual
    features, files = load_features(settings)
    reviewed = reviewed_models(settings)
    kept = [row for row, name in enumerate(files) if reviewed.get(name) != ""]  # "": marked not a product
    features, files = features[kept], [files[row] for row in kept]
    calibration = _calibration(settings, features)
    k = settings.cluster_k if calibration is None else calibration.k
    plain = plain_features(settings)
    result = clustering.cluster(_as_clustered(features, settings), method=settings.cluster_method,
                                seed=settings.seed, k=k, **cluster_options(settings, calibration is not None, plain))
    if calibration is not None:
        result.k_criterion = "calibrated"
    if any(reviewed.get(name) for name in files):
        _keep_reviewed_whole(result, [reviewed.get(name, "") for name in files])
    predictions = pd.DataFrame({"file": files, "cluster": result.labels})
    write_csv(settings.path("predictions"), predictions)
    by_file = dict(zip(files, result.labels))
    write_lines(settings.path("labels_pred"),
                [by_file.get(name, UNCLUSTERED) for name in load_image_list(settings)])
    if result.som_weights is not None:
        save_npy(settings.path("som_weights"), result.som_weights.astype(np.float32))
        save_npy(settings.path("som_node_labels"), result.node_labels.astype(np.int64))
    else:
        for stale in ("som_weights", "som_node_labels"):
            settings.path(stale).unlink(missing_ok=True)
    write_json(settings.path("clustering"), {
        "method": result.method, "k": result.k, "k_criterion": result.k_criterion,
        "criterion_curve": result.criterion_curve, "settings": result.settings, "n_images": len(files),
        "criterion_ks": {name: own_k for name, (own_k, _) in result.criterion_curves.items()},
        "run_id": fingerprint(settings.path("predictions")),
        **({"reviewed": _reviewed_counts(reviewed, files)} if reviewed else {}),
        **({"calibration": {**calibration.as_dict(), "k_capped_from": result.settings.get("k_capped_from")}}
           if calibration is not None else {}),
        **({"k_given_by": settings.given_by("cluster_k")} if settings.cluster_k is not None else {})})
    if calibration is not None:
        visual.plot_calibration(calibration, result.k, settings.path("k_chart"), _true_k(settings, files))
    elif result.criterion_curve:
        visual.plot_k_criterion(result, settings.path("k_chart"), _true_k(settings, files))
    else:
        settings.path("k_chart").unlink(missing_ok=True)
    print(f"04: {len(files)} photos in {result.k} clusters ({result.method}"
          f"{', k by ' + result.k_criterion if result.k_criterion else ''}{_maps_text(result, plain and k is None)})")
    return result


def _maps_text(result, one_map_for_plain_features):
    """How many maps chose k, for stage 04's log line."""
    agreement = result.settings.get("agreement")
    if agreement:
        return (f", {'agreed by' if agreement['kept'] else 'the best-separating of'} maps of "
                f"{', '.join(map(str, agreement['maps_k']))}")
    return ", one map: plain features" if one_map_for_plain_features and result.settings.get("maps") == 1 else ""


def _calibration(settings, features):
    """What the calibration photos stage 03 wrote teach about k, for the methods that choose k by K_CRITERION;
    None where k is given, the method has its own rule, or there is nothing to learn from (then the criterion
    decides, and a warning says why)."""
    from . import calibration
    calibrating = load_calibration(settings)
    if calibrating is None or "criterion" not in cluster_options(settings):
        return None
    try:
        learnt = calibration.calibrated_count(features, *calibrating, seed=settings.seed)
    except ValueError as error:
        log.warning("04: no calibration (%s); k by the %s criterion", error, settings.k_criterion)
        return None
    print(f"04: calibrated on {learnt.n_photos} photos of {learnt.n_models} held-out known models: one model "
          f"ends at Ward cost {learnt.threshold:.3f} (their ARI {learnt.ari:.3f}), which gives k = {learnt.k}")
    return learnt


def _keep_reviewed_whole(result, reviewed):
    """Every reviewed model one whole cluster (corrections.keep_reviewed_whole), numbered again by size."""
    from . import clustering, corrections
    labels = np.array(corrections.keep_reviewed_whole(result.labels, reviewed))
    nodes = labels if result.node_labels is None else result.node_labels
    result.labels, numbered_nodes = clustering.numbered_by_size(labels, nodes.ravel())
    if result.node_labels is not None:
        result.node_labels = numbered_nodes.reshape(nodes.shape)
    result.k = len(np.unique(result.labels))


def _reviewed_counts(reviewed, files):
    models = [reviewed[name] for name in files if reviewed.get(name)]
    return {"models": len(set(models)), "photos": len(models),
            "not_product": sum(model == "" for model in reviewed.values())}


def _as_clustered(features, settings):
    """The vectors stage 04 groups: the features, refined where the settings ask for it."""
    if settings.neighbour_expansion or settings.whiten_components:
        from . import refinement
        return refinement.refined(features, settings.neighbour_expansion, settings.whiten_components, settings.seed)
    return features


def _true_k(settings, files):
    """How many true models the clustered photos show, or None without labels."""
    table = load_labels(settings)
    models = table.loc[table["file"].isin(files), "model_id"]
    return int(models[models != ""].nunique()) or None


def clustering_defaults(settings):
    """The chosen method's defaults in clustering.py: a new version that changes one redoes stage 04."""
    from . import clustering
    return clustering.METHODS[settings.cluster_method][1]


def cluster_options(settings, calibrated=False, plain_features=False):
    """The config.py settings that apply to the chosen clustering method (a calibrated k caps at the map's;
    plain features get one map unless SOM_MAPS is set)."""
    options = {}
    if settings.cluster_method in ("som", "som_nodes"):
        options.update(sigma=settings.som_sigma, learning_rate=settings.som_learning_rate,
                       iterations_per_image=settings.som_iterations_per_image)
    if settings.cluster_method == "som" and (settings.som_maps or plain_features):
        options["maps"] = settings.som_maps or 1
    if settings.cluster_method == "som" and calibrated:
        options["cap_k"] = True
    if settings.cluster_method in ("som", "agglomerative") and settings.cluster_k is None:
        options["criterion"] = settings.k_criterion
    return options


@declares(reads=["labels", "predictions", "features", "feature_files", "features_info", "clustering", "rejected",
                 "reviewed", Of("split", trained_on)], writes=["metrics"])
def evaluate(settings):
    """Scores against the true model ids, for all photos and for seen and unseen models apart.

    Only photos whose names give a model id are scored; how many were left out is reported.
    """
    from . import metrics
    run = load_clustered(settings)
    if run.models is None:
        settings.path("metrics").unlink(missing_ok=True)
        print_scores(settings)
        return None
    labelled = run.models != ""
    network_set = settings.replace(dataset=trained_on(settings))
    seen = known_models(network_set) | known_models(network_set, CALIBRATION)  # labels the run learnt from
    reviewed = reviewed_models(settings)  # fine-tuning saw the photos of reviewed clusters under their own ids
    seen |= {model for name, model in zip(run.files, run.models) if reviewed.get(name) and model}
    scores = metrics.split_scores(run.models[labelled], run.clusters[labelled], seen)
    unseen_rows = labelled & ~np.isin(run.models, list(seen))
    recall = metrics.recall_at_1(run.features, run.models, mask=unseen_rows) if unseen_rows.sum() > 1 else None
    report = {"scores": scores, "recall_at_1_unseen": recall, "n_listed": len(load_labels(settings)),
              "n_clustered": len(run.files), "n_scored": int(labelled.sum()),
              "n_rejected": int(load_rejected(settings)["file"].nunique()),
              "features": read_json(settings.path("features_info")),
              "clustering": {key: value for key, value in read_json(settings.path("clustering")).items()
                             if key != "criterion_curve"}}
    write_json(settings.path("metrics"), report)
    print_scores(settings, report)
    return report


def print_scores(settings, report=None):
    """Print the scores table of metrics.json (or of `report`), as the evaluation does."""
    if report is None and not settings.path("metrics").is_file():
        print(f"evaluation: nothing to score: no clustered photo of {settings.raw_img} is named "
              f"MODELID_PRODUCTID_IMAGEID; the clusters are in {settings.path('predictions')} and "
              f"{settings.path('report')}")
        return
    from . import metrics
    report = report or read_json(settings.path("metrics"))
    print(metrics.format_table(report["scores"]))
    unscored = report["n_clustered"] - report.get("n_scored", report["n_clustered"])
    print(f"recall@1 on unseen models: {_fmt(report['recall_at_1_unseen'])}; photos: {report['n_clustered']} "
          f"clustered + {report['n_rejected']} rejected" + (f"; {unscored} clustered photos have no model id in their "
                                                            "name and are not scored" if unscored else ""))


@declares(reads=["labels", "predictions", "features", "feature_files", "features_info", "clustering",
                 "som_weights", "som_node_labels", "metrics", "rejected", "added", "raw_img"], writes=["result"])
def visualize(settings):
    """t-SNE, U-matrix and contact-sheet PNGs and the report in result/<DATASET>."""
    from . import report, visual
    run = load_clustered(settings)
    true = None if run.models is None else np.where(run.models == "", report.UNNAMED_MODEL, run.models)
    written = [settings.path("tsne"), settings.path("contact_sheet")]
    visual.plot_tsne(run.features, true, run.clusters, written[0], perplexity=settings.tsne_perplexity,
                     seed=settings.seed)
    visual.plot_contact_sheet([settings.raw_img / name for name in run.files], run.clusters, written[1])
    weights_path = settings.path("som_weights")
    if weights_path.is_file():
        weights = load_npy(weights_path)
        node_labels = load_npy(settings.path("som_node_labels"))
        visual.plot_umatrix(weights, _hits(weights, _as_clustered(run.features, settings)),
                            settings.path("umatrix"), node_labels)
        written.append(settings.path("umatrix"))
    else:
        settings.path("umatrix").unlink(missing_ok=True)
    written.append(report.write_report(settings, run))
    print("pictures: " + ", ".join(str(path.relative_to(settings.root)) for path in written))
    return written


def _hits(weights, features):
    """How many photos each map node wins."""
    from sklearn.metrics import pairwise_distances_argmin
    flat = weights.reshape(-1, weights.shape[-1])
    winners = pairwise_distances_argmin(features, flat)
    return np.bincount(winners, minlength=len(flat)).reshape(weights.shape[:2])


def _fmt(value):
    return "n/a" if value is None else f"{value:.4f}"
