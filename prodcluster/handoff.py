"""Reading what the stages wrote for a data set, checked against each other.

Every reader names the script to rerun when its file is missing or disagrees with another.
`load_clustered` joins the labels, the feature rows and the clusters, one entry per clustered
photo, for the evaluation, the pictures and the report. `record_rejected` keeps the list of
photos a stage could not use: every input photo ends up clustered or listed there.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .fileio import load_npy, read_csv, read_json, require_file, write_csv
from .freshness import fingerprint

REJECTED_COLUMNS = ["file", "stage", "reason"]
KNOWN, HELD_OUT, CALIBRATION = "known", "held_out", "calibration"  # roles of split.csv


def load_labels(settings):
    return read_csv(settings.path("labels"), stage_hint="00_make_labels_true.py")


def load_image_list(settings):
    return load_labels(settings)["file"].tolist()


def load_split(settings):
    return read_csv(settings.path("split"), stage_hint="make_training_image_folders.py")


def known_models(settings, role=KNOWN):
    """Model ids of `role` in the split, by default those used for fine-tuning; empty without a split."""
    path = settings.path("split")
    if not path.is_file():
        return set()
    split = read_csv(path)
    return set(split.loc[split["role"] == role, "model_id"])


def load_calibration(settings):
    """(vectors, model ids) of the calibration photos stage 03 wrote, or None where it wrote none."""
    path = settings.path("calibration_features")
    if not path.is_file():
        return None
    vectors = load_npy(path)
    table = read_csv(settings.path("calibration_files"), stage_hint="03_extract_features.py")
    if len(table) != len(vectors):
        raise ValueError(f"{path} holds {len(vectors)} rows but {settings.path('calibration_files')} lists "
                         f"{len(table)} photos: run 03_extract_features.py again")
    return vectors, table["model_id"].astype(str).to_numpy()


def plain_features(settings):
    """Whether stage 03 read the plain pretrained backbone (not a fine-tuned network), as features.json records."""
    path = settings.path("features_info")
    require_file(path, stage_hint="03_extract_features.py")
    return read_json(path)["source"] == "pretrained"


def trained_on(settings):
    """The data set whose known models the features' network saw, as stage 03 (or self-training) recorded it."""
    path = settings.path("features_info")
    info = read_json(path) if path.is_file() else {}
    recorded = info.get("self_training", {}).get("known_models_from") or info.get("finetuned_on")
    return recorded or settings.finetuned_from or settings.dataset


def reviewed_models(settings):
    """{file: model id} from the reviews applied to the data set ("" for a photo marked not a product)."""
    path = settings.path("reviewed")
    if not path.is_file():
        return {}
    table = read_csv(path)
    return dict(zip(table["file"], table["model"]))


def run_id(settings):
    """What names the clusters a review is made on: stage 04 or the last review applied set it in clustering.json
    (stage 05 keeps it, since it renumbers nothing); a digest of predictions.csv for runs made before."""
    recorded = read_json(settings.path("clustering")).get("run_id")
    return recorded or fingerprint(settings.path("predictions"))


def load_features(settings):
    """(features N x D, file names of the rows), checked against each other."""
    features = load_npy(settings.path("features"), stage_hint="03_extract_features.py")
    require_file(settings.path("feature_files"), stage_hint="03_extract_features.py")
    files = settings.path("feature_files").read_text(encoding="utf-8").splitlines()
    if len(files) != len(features):
        raise ValueError(f"{settings.path('features')} has {len(features)} rows but "
                         f"{settings.path('feature_files')} names {len(files)} photos: "
                         "rerun 03_extract_features.py")
    return features, files


@dataclass
class Clustered:
    """The clustered photos in feature-row order: names, vectors, clusters and true models."""

    files: list
    features: np.ndarray
    clusters: np.ndarray
    models: np.ndarray | None  # model id of each photo ("" when its name gives none); None: no name gives one
    batch_of: dict  # {file: batch} of the photos stage 05 added (predictions.csv's `batch` column)


def load_clustered(settings):
    """Labels, features and predictions of the data set joined by file name."""
    features, files = load_features(settings)
    predictions = read_csv(settings.path("predictions"), stage_hint="04_cluster_som.py")
    cluster_of = dict(zip(predictions["file"], predictions["cluster"]))
    left_out = set(load_rejected(settings)["file"])  # e.g. marked not a product in a review
    kept = [row for row, name in enumerate(files) if name in cluster_of or name not in left_out]
    features, files = (features, files) if len(kept) == len(files) else (features[kept], [files[row] for row in kept])
    missing = [name for name in files if name not in cluster_of]
    if missing or len(cluster_of) != len(files):
        raise ValueError(f"{settings.path('predictions')} does not match the {len(files)} photos with features "
                         f"({len(missing)} without a cluster): rerun 04_cluster_som.py")
    labels = load_labels(settings)
    unknown = sorted(set(files) - set(labels["file"]))
    if unknown:
        raise ValueError(f"{settings.path('feature_files')} names {len(unknown)} photo(s) missing from "
                         f"labels.csv, e.g. {unknown[0]!r}: rerun 03 and 04")
    model_of = dict(zip(labels["file"], labels.get("model_id", pd.Series("", index=labels.index))))
    models = np.array([model_of[name] for name in files], dtype=str)
    batch_of = {}
    if "batch" in predictions:
        added = predictions[predictions["batch"] != ""]
        batch_of = dict(zip(added["file"], added["batch"]))
    return Clustered(files=files, features=features, clusters=np.array([int(cluster_of[name]) for name in files]),
                     models=models if (models != "").any() else None, batch_of=batch_of)


def rejected_frame(rows=()):
    return pd.DataFrame(list(rows), columns=REJECTED_COLUMNS)


def record_rejected(settings, stage, frame):
    """Replace the rows of `stage` in rejected.csv with `frame` (columns file, reason)."""
    path = settings.path("rejected")
    kept = load_rejected(settings)
    kept = kept[kept["stage"] != stage]
    new = frame.assign(stage=stage)[REJECTED_COLUMNS] if len(frame) else rejected_frame()
    write_csv(path, pd.concat([kept, new], ignore_index=True))


def load_rejected(settings):
    path = settings.path("rejected")
    return read_csv(path) if path.is_file() else rejected_frame()
