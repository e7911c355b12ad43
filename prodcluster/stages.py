"""File hand-offs of stages 01 and 04, the evaluation and the pictures.

Each function reads what the earlier stages wrote for the data set, calls the module that
does the work (background, clustering, metrics, visual) and writes its own outputs.
"""
import logging

import numpy as np
import pandas as pd
from sklearn.metrics import pairwise_distances_argmin

from . import background, clustering, metrics, report, visual
from .features import load_features
from .fileio import load_npy, read_csv, read_json, save_npy, write_csv, write_json, write_lines
from .labels import load_image_list, load_labels
from .rejected import load_rejected, record_rejected
from .split import known_models, trained_on

log = logging.getLogger(__name__)
UNCLUSTERED = -1
AUTO_REASONS = {"grabcut": "backgrounds are removed, so every photo of a model ends up on white",
                "none": "a mix of studio and cluttered backgrounds, so every photo is kept as it is"}


def preprocess(settings, save_masks=False, force=False):
    """Stage 01: background removal of every listed photo into img/<DATASET> (masks into data/<DATASET>/masks)."""
    files = load_image_list(settings)
    mask_dir = settings.masks if save_masks or settings.save_masks else None
    rejected = background.preprocess_folder(settings.raw_img, settings.img, files, method=settings.preprocess,
                                            workers=settings.workers, mask_dir=mask_dir,
                                            max_pixels=settings.max_image_pixels, force=force)
    record_rejected(settings, background.STAGE, rejected[["file", "reason"]])
    if len(rejected) == len(files):
        raise ValueError(f"all {len(files)} photos of {settings.raw_img} were rejected; the reasons are in "
                         f"{settings.data_file('rejected')}")
    kinds = rejected.attrs["background_kinds"]
    if kinds is not None:
        surveyed = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        print(f"01: auto chose {rejected.attrs['method']} from the backgrounds of {sum(kinds.values())} photos "
              f"({surveyed}): " + AUTO_REASONS[rejected.attrs["method"]])
    outcomes = ", ".join(f"{count} {name}" for name, count in rejected.attrs["outcomes"].items() if count)
    print(f"01: {len(files) - len(rejected)} photos preprocessed ({rejected.attrs['method']}: {outcomes or 'none'}), "
          f"{len(rejected)} rejected")
    return rejected


def cluster(settings):
    """Stage 04: cluster the features; write predictions, labels_pred.txt and the map."""
    features, files = load_features(settings)
    result = clustering.cluster(features, method=settings.cluster_method, seed=settings.seed, k=settings.cluster_k,
                                **cluster_options(settings))
    predictions = pd.DataFrame({"file": files, "cluster": result.labels})
    write_csv(settings.data_file("predictions"), predictions)
    by_file = dict(zip(files, result.labels))
    write_lines(settings.data_file("labels_pred"), [by_file.get(name, UNCLUSTERED) for name in load_image_list(settings)])
    if result.som_weights is not None:
        save_npy(settings.data_file("som_weights"), result.som_weights.astype(np.float32))
        save_npy(settings.data_file("som_node_labels"), result.node_labels.astype(np.int64))
    else:
        for stale in ("som_weights", "som_node_labels"):
            settings.data_file(stale).unlink(missing_ok=True)
        (settings.result / "umatrix.png").unlink(missing_ok=True)
    write_json(settings.data_file("clustering"), {
        "method": result.method, "k": result.k, "k_criterion": result.k_criterion,
        "criterion_curve": result.criterion_curve, "settings": result.settings, "n_images": len(files),
        "criterion_ks": {name: own_k for name, (own_k, _) in result.criterion_curves.items()}})
    if result.criterion_curve:
        clustering.save_criterion_plot(result, settings.result / "k_criterion.png", _true_k(settings, files))
    print(f"04: {len(files)} photos in {result.k} clusters ({result.method}"
          f"{', k by ' + result.k_criterion if result.k_criterion else ''})")
    return result


def _true_k(settings, files):
    """How many true models the clustered photos show, or None without labels."""
    labels = load_labels(settings)
    models = labels.loc[labels["file"].isin(files), "model_id"]
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


def evaluate(settings):
    """Scores against the true model ids, for all photos and for seen and unseen models apart.

    Only photos whose names give a model id are scored; how many were left out is reported.
    """
    labels = load_labels(settings)
    predictions = read_csv(settings.data_file("predictions"), stage_hint="04_cluster_som.py")
    merged = predictions.merge(labels[["file", "model_id"]], on="file", how="left", validate="one_to_one")
    if merged["model_id"].isna().any():
        raise ValueError(f"{settings.data_file('predictions')} names photos missing from labels.csv: rerun 03 and 04")
    labelled = merged[merged["model_id"] != ""]
    if labelled.empty:
        raise ValueError(f"no clustered photo of {settings.raw_img} is named MODELID_PRODUCTID_IMAGEID, so there is "
                         "nothing to score against: the clusters are in predictions.csv and result/")
    seen = known_models(settings.replace(dataset=trained_on(settings)))
    scores = metrics.split_scores(labelled["model_id"].to_numpy(), labelled["cluster"].to_numpy(), seen)
    features, files = load_features(settings)
    model_of = dict(zip(labels["file"], labels["model_id"]))
    row_models = np.array([model_of[name] for name in files])
    unseen_rows = (row_models != "") & ~np.isin(row_models, list(seen))
    recall = metrics.recall_at_1(features, row_models, mask=unseen_rows) if unseen_rows.sum() > 1 else None
    rejected = load_rejected(settings)
    report = {"scores": scores, "recall_at_1_unseen": recall, "n_listed": len(labels),
              "n_clustered": len(predictions), "n_scored": len(labelled), "n_rejected": int(rejected["file"].nunique()),
              "features": read_json(settings.data_file("features_info")),
              "clustering": {key: value for key, value in read_json(settings.data_file("clustering")).items()
                             if key != "criterion_curve"}}
    write_json(settings.data_file("metrics"), report)
    print_scores(settings, report)
    return report


def print_scores(settings, report=None):
    """Print the scores table of metrics.json (or of `report`), as the evaluation does."""
    report = report or read_json(settings.data_file("metrics"))
    print(metrics.format_table(report["scores"]))
    unscored = report["n_clustered"] - report.get("n_scored", report["n_clustered"])
    print(f"recall@1 on unseen models: {_fmt(report['recall_at_1_unseen'])}; photos: {report['n_clustered']} "
          f"clustered + {report['n_rejected']} rejected" + (f"; {unscored} clustered photos have no model id in their "
                                                            "name and are not scored" if unscored else ""))


def visualize(settings):
    """t-SNE, U-matrix and contact-sheet PNGs in result/<DATASET>."""
    features, files = load_features(settings)
    predictions = read_csv(settings.data_file("predictions"), stage_hint="04_cluster_som.py")
    labels = load_labels(settings)
    model_of = dict(zip(labels["file"], labels["model_id"].replace("", "?")))  # "?": no model id in the name
    true = np.array([model_of[name] for name in files]) if (labels["model_id"] != "").any() else None
    pred = predictions["cluster"].astype(int).to_numpy()
    written = [settings.result / "tsne.png", settings.result / "clusters.png"]
    visual.plot_tsne(features, true, pred, written[0], perplexity=settings.tsne_perplexity, seed=settings.seed)
    visual.plot_contact_sheet([settings.raw_img / name for name in files], pred, written[1])
    weights_path = settings.data_file("som_weights")
    if weights_path.is_file():
        weights = load_npy(weights_path)
        node_labels = load_npy(settings.data_file("som_node_labels"))
        visual.plot_umatrix(weights, _hits(weights, features), settings.result / "umatrix.png", node_labels)
        written.append(settings.result / "umatrix.png")
    written.append(report.write_report(settings))
    print("pictures: " + ", ".join(str(path.relative_to(settings.root)) for path in written))
    return written


def _hits(weights, features):
    """How many photos each map node wins."""
    flat = weights.reshape(-1, weights.shape[-1])
    winners = pairwise_distances_argmin(features, flat)
    return np.bincount(winners, minlength=len(flat)).reshape(weights.shape[:2])


def _fmt(value):
    return "n/a" if value is None else f"{value:.4f}"
