"""Steps that change a finished run: new photos (stage 05), a review, and self-training.

Stage 05 puts new photos into the run's clusters or new ones (assign.py decides); a review
replays the corrections made on review.html (corrections.py). Both extend the hand-off files
of stages 00 to 04 in place and keep the earlier photos' cluster numbers. Self-training
(self_training.py) fine-tunes a second network and writes stage 03's and 04's files anew.
Each takes the files it declares it writes as the earlier stages' own (pipeline.py restamps
them), so those stages stay up to date without running again.
"""
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import labels, stages
from .fileio import atomic_path, load_npy, read_csv, read_json, save_npy, write_csv, write_json, write_lines
from .files import Of, declares
from .freshness import fingerprint
from .handoff import (known_models, load_clustered, load_image_list, load_labels, load_rejected, record_rejected,
                      rejected_frame, reviewed_models, run_id, trained_on)
from .settings import FILES
from .stages import UNCLUSTERED

log = logging.getLogger(__name__)

NEW_PHOTO_COLUMNS = ["file", "batch", "outcome", "cluster", "similarity"]


def _recorded_network_data_set(settings):
    """The data set whose fine-tuned network made the features, as features.json records it; None: a plain one."""
    info = read_json(settings.path("features_info"))
    return info.get("finetuned_on") if info["source"] != "pretrained" else None


@declares(reads=["features_info", Of("network", _recorded_network_data_set),
                 Of("classes", _recorded_network_data_set), "self_trained"],
          writes=["raw_img", "img", "labels", "image_list", "labels_true", "features", "feature_files", "predictions",
                  "labels_pred", "clustering", "added"], updates=["rejected"], caches=["cache"])
def assign_new_photos(settings, folder, batch):
    """Stage 05: the photos of `folder` join the run's clusters or open new ones; return this call's added rows.

    They are copied into raw_img/<DATASET>/<batch>/, prepared as stage 01 prepared the run's
    photos and read by the network stage 03 used; the hand-off files of stages 00 to 04 then
    list them too and the earlier photos keep their clusters. A photo added before is passed
    over, so a rerun changes nothing (and returns no row).
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
    network = (self_trained_network(settings) if "self_training" in info else settings).replace(
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
                                                          Path(folder) / "new.npy")
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


def self_trained_network(settings):
    """Settings whose fine-tuned network is the self-trained one, in this data set's own models folder."""
    return settings.replace(model_dir=f"{settings.model_dir}/{FILES['self_trained'][1]}", finetuned_from=None,
                            calibration_share=0.0)


@declares(reads=["labels", "img", "reviewed", "features_info", Of("split", trained_on), Of("train_img", trained_on)],
          writes=["pseudo_models", "self_trained", *stages.extract_features.declared.writes,
                  *stages.cluster.declared.writes],
          updates=["rejected"], caches=["cache"])
def self_train(settings):
    """Fine-tune a second network on the known models and the run's clearest clusters (self_training.py), then
    write the features and clusters again with it; return the pseudo-models' table, or None where nothing changed.

    Features that a self-trained network made already are left as they are, so a rerun changes nothing."""
    from . import finetune, self_training
    if "self_training" in read_json(settings.path("features_info")):
        print("self-training: the features come from a self-trained network already; nothing changed")
        return None
    if len(settings.backbones) > 1:
        raise ValueError(f"self-training fine-tunes one backbone, but BACKBONE is {settings.backbone}")
    run = load_clustered(settings)
    source = settings.replace(dataset=trained_on(settings))
    classes = sorted(known_models(source))
    pseudo = _pseudo_models(settings, run, set(classes) if source.dataset == settings.dataset else set())
    paths, targets = finetune.class_photos(classes, source.train_img) if classes else ([], np.zeros(0, int))
    names, pseudo_targets = np.unique(pseudo["model"].to_numpy(dtype=str), return_inverse=True)
    if len(names) < finetune.MIN_FINETUNE_MODELS or len(paths) + len(pseudo) < settings.min_finetune_photos:
        log.warning("self-training: only %d clusters hold %d or more clearly placed photos (%d in all); too few "
                    "to learn from, so the run is left as it is", len(names), self_training.MIN_PHOTOS, len(pseudo))
        return None
    if settings.calibration_share:
        log.warning("self-training: stage 04 chooses k by %s again; the calibration models taught the first "
                    "network's vectors only", settings.k_criterion)
    write_csv(settings.path("pseudo_models"), pseudo)
    trained = self_trained_network(settings)
    paths += [settings.img / name for name in pseudo["file"]]
    targets = np.concatenate([targets, len(classes) + pseudo_targets])
    network, history = finetune.fine_tune(paths, targets, len(classes) + len(names), trained)
    stages.save_network(trained, network, history, [*classes, *names])
    info = stages.extract_features(trained)
    info["self_training"] = {"known_models_from": source.dataset if classes else None, "known_models": len(classes),
                             "pseudo_models": len(names), "pseudo_photos": len(pseudo), "photos": len(run.files)}
    write_json(settings.path("features_info"), info)
    print(f"self-training: fine-tuned again on {len(classes)} known models and {len(names)} pseudo-models "
          f"({len(pseudo)} of the {len(run.files)} clustered photos)")
    stages.cluster(settings)
    return pseudo


def _pseudo_models(settings, run, known):
    """Table (file, model) of the clearest photos of the run's clusters, leaving out the photos fine-tuning
    learns already: those of `known` models and of reviewed clusters."""
    from . import self_training
    reviewed = reviewed_models(settings)
    true_models = run.models if run.models is not None else np.full(len(run.files), "")
    usable = np.array([name not in reviewed and model not in known for name, model in zip(run.files, true_models)])
    files = np.array(run.files, dtype=object)[usable]
    pseudo = self_training.pseudo_models(run.features[usable], run.clusters[usable])
    return pd.DataFrame({"file": files[pseudo != ""], "model": pseudo[pseudo != ""]})
