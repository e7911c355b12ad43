"""Every stage's file work: read what earlier stages wrote, call the module that does the work, write.

Each stage function declares above it the files it reads and writes, by their names in
settings.FILES (files.py); handoff.py reads the hand-off files for it. The modules it calls
(labels, background, split, finetune, features, clustering, assign, metrics, visual, report)
take paths and arrays. Each stage imports the modules it calls inside its function, so a
script loads only what its stage uses (TensorFlow for stages 02 and 03 alone), and stage 01's
worker processes, which import the script that started them, load nothing for nothing.
"""
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import labels, split
from .fileio import (
    atomic_path,
    load_npy,
    read_csv,
    read_json,
    save_npy,
    write_csv,
    write_json,
    write_lines,
)
from .handoff import (
    KNOWN,
    known_models,
    load_clustered,
    load_features,
    load_image_list,
    load_labels,
    load_rejected,
    load_split,
    record_rejected,
    rejected_frame,
    reviewed_models,
    run_id,
    trained_on,
)
from .files import Of, declares, paths
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
    models = split.split_models(table.loc[table["model_id"] != "", "model_id"], settings.train_fraction, settings.seed)
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
    linked = split.link_training_photos(table, known, settings.img, settings.train_img)
    print(f"split: {len(known)} known and {len(models) - len(known)} held-out models"
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
    from . import finetune, visual
    paths, targets = finetune.class_photos(classes, settings.train_img)
    if not finetune.enough_to_learn(len(classes), len(paths), settings):
        return _no_network(settings)
    network, history = finetune.fine_tune(paths, targets, len(classes), settings)
    with atomic_path(settings.path("network")) as tmp:
        network.save(tmp)
    write_json(settings.path("classes"), {
        "classes": classes, "backbone": settings.backbone, "image_size": settings.input_size,
        "loss": settings.embedding_loss, "embedding_dim": settings.embedding_dim,
        "finetune_blocks": settings.finetune_blocks, "feature_layers": list(FEATURE_LAYERS)})
    write_csv(settings.path("history"), history)
    visual.plot_learning_curve(history, settings.path("learning_curve"))
    return history


def _no_network(settings):
    """Remove an earlier run's network, so that stage 03 does not read it; an empty history."""
    for name in MODEL_FILES:
        settings.path(name).unlink(missing_ok=True)
    return pd.DataFrame()


def _network_data_set(settings):
    """The data set whose fine-tuned network stage 03 reads; None where it reads no fine-tuned network."""
    return (settings.finetuned_from or settings.dataset) if settings.use_finetuned else None


@declares(reads=["labels", "img", Of("network", _network_data_set), Of("classes", _network_data_set)],
          writes=["features", "feature_files", "features_info"], updates=["rejected"], caches=["cache"])
def extract_features(settings):
    """Stage 03: features.npy (float32, rows = readable photos in list order), feature_files.txt, features.json.

    Rows go straight into a memory-mapped file, so memory does not grow with the number of
    photos; photos that cannot be read are listed as rejected and left out.
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
                                                    [settings.img / name for name in present], tmp, True)
        rejected = [(present[row], "03", reason) for row, reason in errors]
        rejected += [(name, "03", "no preprocessed photo (rejected by stage 01)")
                     for name in sorted(set(files) - set(present))]
        record_rejected(settings, "03", rejected_frame(rejected))
        if not rows:
            raise ValueError(f"none of the {len(files)} photos of {settings.img} could be read: the reasons are in "
                             f"{settings.path('rejected')}")
        _print_summary(runner, "03")
    kept = [present[row] for row in rows]
    write_lines(settings.path("feature_files"), kept)
    info = {**description, **({"test_time_flip": True} if settings.test_time_flip else {}),
            "normalized": True, "n_images": len(kept), "dim": dim,
            **({"runtime": runner.runtime} if runner.runtime != "keras" else {}),
            "rejected": len(rejected)}
    write_json(settings.path("features_info"), info)
    print(f"03: {info['n_images']} x {info['dim']} features from the {info['source']} {info['backbone']}, "
          f"{len(rejected)} rejected" + _rejected_list(settings, ((name, reason) for name, _, reason in rejected)))
    return info


@declares(reads=["features", "feature_files", "labels", "reviewed"],
          writes=["predictions", "labels_pred", "clustering", "som_weights", "som_node_labels", "k_chart"])
def cluster(settings):
    """Stage 04: cluster the features; write predictions, labels_pred.txt and the map."""
    from . import clustering, visual
    features, files = load_features(settings)
    reviewed = reviewed_models(settings)
    kept = [row for row, name in enumerate(files) if reviewed.get(name) != ""]  # "": marked not a product
    features, files = features[kept], [files[row] for row in kept]
    result = clustering.cluster(_as_clustered(features, settings), method=settings.cluster_method,
                                seed=settings.seed, k=settings.cluster_k, **cluster_options(settings))
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
        **({"k_given_by": settings.given_by("cluster_k")} if settings.cluster_k is not None else {})})
    if result.criterion_curve:
        visual.plot_k_criterion(result, settings.path("k_chart"), _true_k(settings, files))
    else:
        settings.path("k_chart").unlink(missing_ok=True)
    print(f"04: {len(files)} photos in {result.k} clusters ({result.method}"
          f"{', k by ' + result.k_criterion if result.k_criterion else ''})")
    return result


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


def cluster_options(settings):
    """The config.py settings that apply to the chosen clustering method."""
    options = {}
    if settings.cluster_method in ("som", "som_nodes"):
        options.update(sigma=settings.som_sigma, learning_rate=settings.som_learning_rate,
                       iterations_per_image=settings.som_iterations_per_image)
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
    seen = known_models(settings.replace(dataset=trained_on(settings)))
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



NEW_PHOTO_COLUMNS = ["file", "batch", "outcome", "cluster", "similarity"]


def _recorded_network_data_set(settings):
    """The data set whose fine-tuned network made the features, as features.json records it; None: a plain one."""
    info = read_json(settings.path("features_info"))
    return info.get("finetuned_on") if info["source"] != "pretrained" else None


@declares(reads=["features_info", Of("network", _recorded_network_data_set),
                 Of("classes", _recorded_network_data_set)],
          writes=["raw_img", "img", "labels", "image_list", "labels_true", "features", "feature_files", "predictions",
                  "labels_pred", "clustering", "added"], updates=["rejected"], caches=["cache"])
def assign_new_photos(settings, folder, batch):
    """Stage 05: the photos of `folder` join the run's clusters or open new ones; return this call's added rows.

    They are copied into raw_img/<DATASET>/<batch>/, prepared as stage 01 prepared the run's
    photos and read by the network stage 03 used; the hand-off files of stages 00 to 04 then
    list them too, the earlier photos keep their clusters, and the stages' stamps take the
    extended files as their own. A photo added before is passed over, so a rerun changes nothing.
    """
    from . import assign
    run = load_clustered(settings)
    info = read_json(settings.path("features_info"))
    network = _network_of(settings, info)
    names, outside = labels.list_images(folder, settings.img_ext)
    copied, refused, passed_over = _copy_new_photos(settings, Path(folder), names, batch)
    refused += [(str(Path(folder) / name), "symbolic link to a file outside the folder") for name in outside]
    if not copied and not refused:
        print(f"05: the {passed_over} photos of {folder} were added before; nothing changed")
        return pd.DataFrame(columns=NEW_PHOTO_COLUMNS)
    kept, vectors, unusable = _new_vectors(settings, network, info, copied)
    refused += unusable
    clustering_info = read_json(settings.path("clustering"))
    recorded = clustering_info.get("assignment")
    thresholds = (assign.Thresholds.from_dict(recorded) if recorded
                  else assign.learn_thresholds(run.features, run.clusters))
    placed = assign.assign(run.features, run.clusters, vectors, thresholds) if kept else None
    table = _added_rows(batch, kept, placed, refused)
    added = pd.concat([_earlier_rows(settings, table["file"]), table], ignore_index=True)
    k = _extend_run(settings, run, copied, kept, vectors, placed, batch)
    write_json(settings.path("clustering"), {
        **clustering_info, "k": k,
        "assignment": {**thresholds.as_dict(), "k_of_stage_04": (recorded or clustering_info)
                       .get("k_of_stage_04", clustering_info["k"]), "batches": _batch_counts(added)}})
    _restamp(settings, ("00", "01", "split", "03", "04"), assign_new_photos)
    earlier = load_rejected(settings)
    earlier = earlier.loc[(earlier["stage"] == "05") & ~earlier["file"].isin(table["file"]), ["file", "reason"]]
    record_rejected(settings, "05", pd.concat([earlier, pd.DataFrame(refused, columns=["file", "reason"])]))
    write_csv(settings.path("added"), added)
    _print_added(settings, table, passed_over)
    return table


def _network_of(settings, info):
    """Settings that read photos with the network stage 03 recorded in features.json, checked against it."""
    from .features import feature_source
    tuned = info["source"] != "pretrained"
    network = settings.replace(
        backbone=info["backbone"], image_size=info.get("image_size"), use_finetuned=tuned,
        finetuned_from=info.get("finetuned_on") if info.get("finetuned_on") != settings.dataset else None,
        feature_layer=info["layer"] if tuned else settings.feature_layer,
        test_time_flip=info.get("test_time_flip", False), runtime=info.get("runtime", "keras"))
    recorded = {key: info.get(key) for key in ("source", "backbone", "model", "layer", "image_size", "parts")}
    if {key: feature_source(network).get(key) for key in recorded} != recorded:
        raise ValueError(f"the network that made {settings.path('features')} ({info['source']} "
                         f"{info['backbone']}) is no longer there: rerun 03_extract_features.py and 04_cluster_som.py")
    return network


def _copy_new_photos(settings, folder, names, batch):
    """Copy each photo to raw_img/<DATASET>/<batch>/; return (names to add, [(name, reason)] refused, passed over).

    A photo stage 05 clustered or rejected before (same name, same bytes) is passed over; one
    copied by a run that stopped before the end is added now; another photo of the same name is
    refused."""
    rejected = load_rejected(settings)
    done = set(read_csv(settings.path("predictions"))["file"]) | set(rejected.loc[rejected["stage"] == "05",
                                                                                          "file"])
    todo, refused, passed_over = [], [], 0
    for name in names:
        target_name = f"{batch}/{name}"
        source, target = folder / name, settings.raw_img / target_name
        if target.exists() and target.read_bytes() != source.read_bytes():
            refused.append((str(source), f"another photo named {target_name} is already in {settings.raw_img}"))
        elif target.exists() and target_name in done:
            passed_over += 1
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
            todo.append(target_name)
    return todo, refused, passed_over


def _new_vectors(settings, network, info, names):
    """(names read, their vectors, [(name, reason)] of the others): stage 01's method, then stage 03's network."""
    from . import engine, features, preprocess
    with engine.opened(network) as runner:
        rejected = preprocess.preprocess_folder(
            settings.raw_img, settings.img, names, method=preprocess.applied_method(settings.img) or "none",
            workers=runner.cpus, max_pixels=settings.max_image_pixels, map_chunks=runner.map_chunks)
        unusable = [tuple(row) for row in rejected[["file", "reason"]].itertuples(index=False)]
        readable = [name for name in names if name not in rejected["file"].tolist()]
        rows, vectors = [], np.zeros((0, info["dim"]), np.float32)
        if readable:
            with tempfile.TemporaryDirectory(prefix=".new_features.", suffix=".tmp", dir=settings.data) as folder:
                rows, errors, _ = features.write_features(runner.photo_vectors, network,
                                                          [settings.img / name for name in readable],
                                                          Path(folder) / "new.npy", info["normalized"])
                if rows:
                    vectors = load_npy(Path(folder) / "new.npy")
            unusable += [(readable[row], reason) for row, reason in errors]
    return [readable[row] for row in rows], vectors, unusable


def _added_rows(batch, kept, placed, refused):
    rows = {name: (batch, "rejected", "", "") for name, _ in refused}
    if placed is not None:
        for name, cluster, similarity, joined in zip(kept, placed.clusters, placed.similarity, placed.joined):
            rows[name] = (batch, "joined" if joined else "new cluster", int(cluster), round(float(similarity), 4))
    return pd.DataFrame([(name, *rows[name]) for name in sorted(rows)], columns=NEW_PHOTO_COLUMNS)


def _earlier_rows(settings, files):
    path = settings.path("added")
    earlier = read_csv(path) if path.is_file() else pd.DataFrame(columns=NEW_PHOTO_COLUMNS)
    return earlier[~earlier["file"].isin(files)]


def _batch_counts(added):
    """Per batch: photos clustered, how many joined existing clusters, how many new clusters they opened."""
    counts = []
    for batch, rows in added.groupby("batch", sort=False):
        opened = rows.loc[rows["outcome"] == "new cluster", "cluster"].astype(str)
        counts.append({"batch": batch, "photos": int((rows["outcome"] != "rejected").sum()),
                       "joined": int((rows["outcome"] == "joined").sum()), "new_clusters": int(opened.nunique())})
    return counts


def _extend_run(settings, run, copied, kept, vectors, placed, batch):
    """Append the new photos to the hand-off files of stages 00 to 04 (the earlier rows unchanged); return k."""
    listed = load_labels(settings)
    table = pd.concat([listed, labels.labels_table([name for name in copied if name not in set(listed["file"])])],
                      ignore_index=True)
    write_csv(settings.path("labels"), table)
    write_lines(settings.path("image_list"), table["file"])
    write_lines(settings.path("labels_true"), table["model_id"])
    predictions = read_csv(settings.path("predictions"))
    if "batch" not in predictions:
        predictions["batch"] = ""
    if kept:
        save_npy(settings.path("features"), np.concatenate([run.features, vectors]).astype(np.float32))
        write_lines(settings.path("feature_files"), [*run.files, *kept])
    predictions = pd.concat([predictions, pd.DataFrame({"file": kept, "batch": batch, "cluster": [
        str(cluster) for cluster in ([] if placed is None else placed.clusters)]})], ignore_index=True)
    write_csv(settings.path("predictions"), predictions[["file", "cluster", "batch"]])
    cluster_of = dict(zip(predictions["file"], predictions["cluster"]))
    write_lines(settings.path("labels_pred"), [cluster_of.get(name, UNCLUSTERED) for name in table["file"]])
    return int(predictions["cluster"].nunique())


def _restamp(settings, names, step):
    """Take the files that `step` (stage 05 or a review) declares it writes as the named stages' own."""
    from .freshness import restamp
    from .pipeline import BY_NAME
    extended = paths(settings, step.declared.writes)
    for name in names:
        restamp(BY_NAME[name], settings, extended)


def _print_added(settings, table, passed_over):
    outcomes = table["outcome"].value_counts()
    opened = table.loc[table["outcome"] == "new cluster", "cluster"].nunique()
    print(f"05: {len(table)} new photos: {outcomes.get('joined', 0)} joined existing clusters, "
          f"{outcomes.get('new cluster', 0)} opened {opened} new clusters, {outcomes.get('rejected', 0)} rejected"
          + (f"; {passed_over} added before, passed over" if passed_over else "")
          + f"; listed in {settings.path('added')}")


@declares(reads=["clustering", "predictions", "labels"], writes=["predictions", "labels_pred", "clustering",
                                                                  "reviewed"], updates=["rejected"])
def apply_review(settings, path):
    """Apply a review.json exported by review.html to the clusters it was made on; return what was applied.

    Writes the corrected predictions (photos marked not a product are listed as rejected),
    records each reviewed cluster's photos as a known model in reviewed.csv (the split and the
    next fine-tuning learn it, stage 04 keeps it whole) and the review in clustering.json. The
    same file applied again changes nothing; a review of other clusters changes nothing and says why.
    """
    from . import corrections
    review = corrections.checked(_read_review(path), settings.dataset, source=str(path))
    info = read_json(settings.path("clustering"))
    identity = corrections.review_id(review)
    if any(applied["id"] == identity for applied in info.get("reviews", [])):
        print(f"review: {path} was applied before; nothing changed")
        return None
    current = run_id(settings)
    if review["run"] != current:
        raise corrections.ReviewError(
            f"{path} was made on other clusters (run {review['run']}) than data set {settings.dataset!r} has now "
            f"(run {current}): stage 04 or another review changed them since. Open "
            f"{settings.path('review_page')} again and redo the decisions there")
    predictions = read_csv(settings.path("predictions"))
    state = corrections.replay(review, dict(zip(predictions["file"], predictions["cluster"].astype(int))), str(path))
    models = corrections.reviewed_models(state, identity)
    _write_reviewed_clusters(settings, predictions, state)
    reviewed = _write_reviewed_models(settings, models, state.not_product)
    record_rejected(settings, "review", rejected_frame(
        (name, "review", "marked not a product in a review") for name, model in sorted(reviewed.items())
        if model == ""))
    applied = {"id": identity, "file": str(path), "decisions": len(review["decisions"]),
               "reviewed_clusters": sorted(state.reviewed), "not_product": len(state.not_product)}
    write_json(settings.path("clustering"), {
        **info, "k": len(set(state.cluster_of.values())), "run_id": fingerprint(settings.path("predictions")),
        "reviews": [*info.get("reviews", []), applied]})
    _restamp(settings, ("04",), apply_review)
    print(f"review: {applied['decisions']} decisions applied; {len(state.reviewed)} reviewed clusters are known "
          f"models now ({len(models)} photos, in {settings.path('reviewed')}), {len(state.not_product)} photos "
          "marked not a product; make_training_image_folders.py and stages 02 to 04 learn from them when run again")
    return applied


def _read_review(path):
    from .corrections import ReviewError
    try:
        return read_json(path)
    except FileNotFoundError:
        raise ReviewError(f"review file {path} does not exist: export it from review.html first") from None
    except ValueError as error:
        raise ReviewError(f"{path} is not a review exported by review.html: {error}") from None


def _write_reviewed_clusters(settings, predictions, state):
    """predictions.csv and labels_pred.txt as the review left the clusters (photos not a product left out)."""
    kept = predictions[predictions["file"].isin(state.cluster_of)].copy()
    kept["cluster"] = [str(state.cluster_of[name]) for name in kept["file"]]
    write_csv(settings.path("predictions"), kept)
    write_lines(settings.path("labels_pred"),
                [state.cluster_of.get(name, UNCLUSTERED) for name in load_image_list(settings)])


def _write_reviewed_models(settings, models, not_product):
    """reviewed.csv: earlier reviews' rows, each photo this review placed replaced by its new model; return it."""
    merged = {**reviewed_models(settings), **models, **{name: "" for name in not_product}}
    write_csv(settings.path("reviewed"), pd.DataFrame({"file": list(merged), "model": list(merged.values())}))
    return merged
