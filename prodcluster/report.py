"""The clustering report as one HTML page, and the exports that other tools read.

`write_report` reads what the stages wrote for a data set and writes into result/<DATASET>/:

- report.html: the scores, the choice of k, the t-SNE and U-matrix pictures, one row of
  thumbnails per cluster (largest first) with its purity and the models it mixes, the model
  pairs most often put together and the rejected photos. The page runs no script and loads
  nothing from the network; its thumbnails are small JPEG files in report_files/ that the
  browser fetches lazily (one per clustered photo, shared with review.html: review.py), and
  each cluster row shows a few photos only, so a page over 10,000 photos still opens quickly.
- clusters/: one folder per cluster holding links to the original photos.
- clusters.csv: every photo with its original path, cluster, true model and rejection reasons.
- projector/: features.tsv, metadata.tsv, sprite.jpg and projector_config.pbtxt for the
  Embedding Projector (load the TSV files at projector.tensorflow.org, or `pip install
  tensorboard` and `tensorboard --logdir result/<DATASET>/projector`).

Photo file names may hold any character, so every name reaches the page through
html.escape, and links to photos are URL-quoted as well. Files are written atomically;
folders are built beside their target and swapped in when complete.
"""
import contextlib
import html
import itertools
import math
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pandas as pd
import scipy.sparse
from sklearn.metrics.cluster import contingency_matrix

from . import metrics, review, visual
from .fileio import read_json, require_file, save_image, write_csv, write_text
from .handoff import load_clustered, load_labels, load_rejected, run_id


THUMB_SIDE = 80  # pixels of a page thumbnail
THUMB_QUALITY = 80
THUMBS_PER_CLUSTER = 12  # photos shown in a cluster's row; the rest are counted
MODELS_NAMED_PER_CLUSTER = 6
MERGED_PAIRS_SHOWN = 10
UNNAMED_MODEL = "?"  # shown for photos whose names give no model id
SMALL_SET_PHOTOS = 50  # below this many clustered photos the summary warns that the scores say little
REJECTED_SHOWN = 200
SPRITE_MAX_SIDE = 8192  # the largest sprite the Embedding Projector accepts
SPRITE_MAX_CELL = 64
SPRITE_QUALITY = 90
TILE_BATCH = 256  # photos decoded at a time, which bounds memory on large data sets

SECTIONS = {
    "scores": "Scores",
    "k-choice": "Number of clusters",
    "tsne": "t-SNE map",
    "som": "Self-organising map",
    "clusters": "Clusters",
    "split-models": "Models split across clusters",
    "merged-pairs": "Models most often merged",
    "rejected": "Rejected photos",
    "exports": "Exports",
}

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1400px;padding:0 16px 40px;color:#222}
nav a{margin-right:12px}
section{border-top:1px solid #ddd;margin-top:20px}
table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td.text,th.text{text-align:left}
img.picture{max-width:100%;height:auto}
.note{color:#666}
.cluster{content-visibility:auto;contain-intrinsic-size:auto 150px;margin:10px 0}
.cluster h3{font-size:15px;margin:4px 0}
.cluster h3 span{font-weight:normal;margin-left:10px}
.mixed{color:#b35900}
.models{margin:2px 0;color:#444}
.thumbs{display:flex;flex-wrap:wrap;gap:2px;align-items:center}
.thumbs img{display:block;border:1px solid #eee}
.thumbs img.added{outline:3px solid #1f77b4;outline-offset:-3px}
.more{margin-left:8px;color:#666}
"""


@dataclass
class _Run:
    """What the stages wrote for one data set, with one entry per clustered photo."""

    settings: object
    files: list
    features: np.ndarray
    clusters: np.ndarray
    models: np.ndarray | None  # true model per clustered photo; None when unknown
    listed: pd.DataFrame
    rejections: pd.DataFrame  # one row per rejected photo: file, reasons
    clustering: dict
    features_info: dict
    metrics: dict | None
    batch_of: dict  # the batch of each photo that stage 05 added

    def photo(self, name):
        return self.settings.raw_img / name

    def result_file(self, name):
        """Where the result `name` of settings.FILES lies."""
        return self.settings.path(name)


@dataclass
class _Cluster:
    label: int
    members: np.ndarray
    shown: list
    model_counts: list  # (model, photos), most photos first; empty when models are unknown

    @property
    def purity(self):
        return self.model_counts[0][1] / len(self.members) if self.model_counts else None


@dataclass
class _Pair:
    model_a: str
    model_b: str
    photo_pairs: int
    shared: list  # (cluster, photos of a, photos of b), most photo pairs first
    example_a: int
    example_b: int


def write_report(settings, clustered=None):
    """Write result/<DATASET>/report.html with its thumbnails and the exports; return the page's path.

    `clustered`: the data set's `handoff.load_clustered`, when the caller has it already.
    """
    run = _load_run(settings, clustered or load_clustered(settings))
    clusters = _clusters(run)
    pairs = _merged_pairs(run) if run.models is not None else []
    rejected_shown = run.rejections["file"].tolist()[:REJECTED_SHOWN]
    with _replaced_folder(run.result_file("report_thumbs")) as thumbs, \
            _replaced_folder(run.result_file("projector")) as projector:
        cell = _write_thumbs_and_sprite(run, thumbs, projector / "sprite.jpg")
        _write_rejected_thumbs(run, rejected_shown, thumbs)
        _write_projector_files(run, projector, cell)
    with _replaced_folder(run.result_file("cluster_links")) as folder:
        _write_cluster_links(run, clusters, folder)
    write_csv(run.result_file("clusters_export"), _labels_export(run))
    page = run.result_file("report")
    write_text(page, _page(run, clusters, pairs))
    write_text(run.result_file("review_page"), review.page(_review_data(run)))
    return page


# --- reading the stages' files ------------------------------------------------------------


def _load_run(settings, clustered):
    require_file(settings.path("clustering"), stage_hint="04_cluster_som.py")
    require_file(settings.path("features_info"), stage_hint="03_extract_features.py")
    metrics_path = settings.path("metrics")
    models = clustered.models
    return _Run(settings=settings, files=clustered.files, features=clustered.features, clusters=clustered.clusters,
                models=None if models is None else np.where(models == "", UNNAMED_MODEL, models),
                listed=load_labels(settings), rejections=_rejections(load_rejected(settings)),
                clustering=read_json(settings.path("clustering")),
                features_info=read_json(settings.path("features_info")),
                metrics=read_json(metrics_path) if metrics_path.is_file() else None, batch_of=clustered.batch_of)


def _rejections(rejected):
    """One row per rejected photo, its reasons from every stage joined."""
    reasons = rejected.assign(reason=lambda frame: "stage " + frame["stage"] + ": " + frame["reason"])
    joined = reasons.groupby("file", sort=False)["reason"].agg("; ".join)
    return pd.DataFrame({"file": joined.index.astype(str), "reasons": joined.to_numpy(dtype=str)})


# --- what the page shows ------------------------------------------------------------------


def _clusters(run):
    """Clusters, largest first (ties by label), with the photos their row shows."""
    order = np.argsort(run.clusters, kind="stable")
    labels, starts = np.unique(run.clusters[order], return_index=True)
    groups = np.split(order, starts[1:])
    ranked = sorted(zip(labels, groups), key=lambda pair: (-len(pair[1]), pair[0]))
    return [_Cluster(int(label), members, _shown_members(members, run.models), _model_counts(members, run.models))
            for label, members in ranked]


def _model_counts(members, models):
    if models is None:
        return []
    names, counts = np.unique(models[members], return_counts=True)
    return sorted(zip(names.tolist(), counts.tolist()), key=lambda pair: (-pair[1], pair[0]))


def _shown_members(members, models):
    """Up to THUMBS_PER_CLUSTER members, taking each model in turn, so a mixed row shows its minority."""
    if models is None:
        return members[:THUMBS_PER_CLUSTER].tolist()
    by_model = {}
    for row in members.tolist():
        by_model.setdefault(models[row], []).append(row)
    queues = sorted(by_model.values(), key=len, reverse=True)
    rounds = itertools.zip_longest(*queues)
    return [row for turn in rounds for row in turn if row is not None][:THUMBS_PER_CLUSTER]


def _merged_pairs(run):
    """The model pairs with the most photo pairs placed in one cluster (the pairs that lower ARI)."""
    model_names, model_codes = np.unique(run.models, return_inverse=True)
    cluster_names, cluster_codes = np.unique(run.clusters, return_inverse=True)
    table = contingency_matrix(model_codes, cluster_codes, sparse=True).tocsr()
    together = scipy.sparse.triu(table @ table.T, k=1).tocoo()
    named = (model_names[together.row] != UNNAMED_MODEL) & (model_names[together.col] != UNNAMED_MODEL)
    best = [i for i in np.lexsort((together.col, together.row, -together.data)) if named[i]][:MERGED_PAIRS_SHOWN]
    return [_pair(run, table, model_names, cluster_names, together.row[i], together.col[i], together.data[i])
            for i in best]


def _pair(run, table, model_names, cluster_names, a, b, photo_pairs):
    count_a, count_b = table[a].toarray().ravel(), table[b].toarray().ravel()
    shared = sorted(np.flatnonzero(count_a * count_b), key=lambda c: (-count_a[c] * count_b[c], c))
    shared = [(int(cluster_names[c]), int(count_a[c]), int(count_b[c])) for c in shared]
    in_first = run.clusters == shared[0][0]
    example_a, example_b = (int(np.flatnonzero(in_first & (run.models == model_names[m]))[0]) for m in (a, b))
    return _Pair(str(model_names[a]), str(model_names[b]), int(photo_pairs), shared, example_a, example_b)


# --- thumbnails, sprite and exports --------------------------------------------------------


@contextlib.contextmanager
def _replaced_folder(target):
    """Yield an empty folder beside `target` that replaces it on success, so no reader sees half of one."""
    target = Path(target)
    build, old = (target.with_name(f".{target.name}.{os.getpid()}.{ending}") for ending in ("tmp", "old"))
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    try:
        yield build
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(build, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(build, ignore_errors=True)


def _photo_tiles(paths, side, workers):
    """Square thumbnails of `paths` in order, decoded on worker threads a batch at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(paths), TILE_BATCH):
            yield from pool.map(visual.thumbnail, paths[start:start + TILE_BATCH], itertools.repeat(side))


def _sprite_layout(n_photos):
    """(tiles per sprite side, tile side in pixels) for a square sprite of at most SPRITE_MAX_SIDE pixels."""
    per_side = math.ceil(math.sqrt(n_photos))
    cell = min(SPRITE_MAX_CELL, SPRITE_MAX_SIDE // per_side)
    if cell < 1:
        raise ValueError(f"{n_photos} photos do not fit one {SPRITE_MAX_SIDE}-pixel sprite")
    return per_side, cell


def _write_thumbs_and_sprite(run, thumbs, sprite_path):
    """Decode each clustered photo once: its thumbnail for the pages and a tile of the sprite."""
    per_side, cell = _sprite_layout(len(run.files))
    sprite = np.full((per_side * cell, per_side * cell, 3), 255, dtype=np.uint8)
    paths = [run.photo(name) for name in run.files]
    for row, tile in enumerate(_photo_tiles(paths, THUMB_SIDE, run.settings.cpus)):
        save_image(thumbs / f"{row}.jpg", tile, quality=THUMB_QUALITY)
        top, left = (index * cell for index in divmod(row, per_side))
        sprite[top:top + cell, left:left + cell] = cv2.resize(tile, (cell, cell), interpolation=cv2.INTER_AREA)
    save_image(sprite_path, sprite, quality=SPRITE_QUALITY)
    return cell


def _write_rejected_thumbs(run, names, thumbs):
    tiles = _photo_tiles([run.photo(name) for name in names], THUMB_SIDE, run.settings.cpus)
    for index, tile in enumerate(tiles):
        save_image(thumbs / f"rejected_{index}.jpg", tile, quality=THUMB_QUALITY)


def _tsv_cell(value):
    """TSV has no quoting: tabs and line breaks inside a value become spaces."""
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _write_projector_files(run, folder, cell):
    np.savetxt(folder / "features.tsv", run.features, fmt="%.6g", delimiter="\t")
    columns = {"file": run.files, "cluster": run.clusters.tolist()}
    if run.models is not None:
        columns["model_id"] = run.models.tolist()
    rows = zip(*columns.values())
    lines = ["\t".join(columns), *("\t".join(_tsv_cell(value) for value in row) for row in rows)]
    (folder / "metadata.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    name = f"{run.settings.dataset} features".replace("\\", "\\\\").replace('"', '\\"')
    (folder / "projector_config.pbtxt").write_text(
        "embeddings {\n"
        f'  tensor_name: "{name}"\n'
        f"  tensor_shape: {run.features.shape[0]}\n"
        f"  tensor_shape: {run.features.shape[1]}\n"
        '  tensor_path: "features.tsv"\n'
        '  metadata_path: "metadata.tsv"\n'
        "  sprite {\n"
        '    image_path: "sprite.jpg"\n'
        f"    single_image_dim: {cell}\n"
        f"    single_image_dim: {cell}\n"
        "  }\n"
        "}\n", encoding="utf-8")


def _write_cluster_links(run, clusters, folder):
    width = len(str(max(cluster.label for cluster in clusters)))  # zero-padded, so folders sort by number
    for cluster in clusters:
        link_folder = folder / f"cluster_{cluster.label:0{width}d}"
        link_folder.mkdir()
        for row in cluster.members.tolist():
            name = run.files[row]
            link = link_folder / name
            link.parent.mkdir(parents=True, exist_ok=True)  # names may hold sub-folders
            os.symlink(os.path.relpath(run.photo(name), link.parent), link)


def _labels_export(run):
    """Every listed or rejected photo: original path, cluster (empty when not clustered), model, reasons."""
    names = list(dict.fromkeys([*run.listed["file"], *run.rejections["file"]]))
    cluster_of = dict(zip(run.files, run.clusters.tolist()))
    reasons_of = dict(zip(run.rejections["file"], run.rejections["reasons"]))
    columns = {"file": names, "original_path": [os.path.abspath(run.photo(name)) for name in names],
               "cluster": [cluster_of.get(name, "") for name in names]}
    if run.models is not None:
        model_of = dict(zip(run.listed["file"], run.listed["model_id"]))
        columns["model_id"] = [model_of.get(name, "") for name in names]
    if run.batch_of:
        columns["batch"] = [run.batch_of.get(name, "") for name in names]
    columns["rejected"] = [reasons_of.get(name, "") for name in names]
    return pd.DataFrame(columns)


# --- the page ------------------------------------------------------------------------------


def _text(value):
    return html.escape(str(value), quote=True)


def _url(run, path):
    """Relative URL from the pages to `path`."""
    return quote(Path(os.path.relpath(path, run.settings.result)).as_posix())


def _link(run, path):
    """Attribute-ready relative URL from the page to `path`."""
    return _text(_url(run, path))


def _review_data(run):
    """What review.html shows: every clustered photo with its thumbnail, link and true model, if known."""
    titles = run.files if run.models is None else [f"{name}, model {model}" for name, model in
                                                   zip(run.files, run.models)]
    return review.page_data(
        run.settings.dataset, run_id(run.settings), run.files, run.features, run.clusters,
        [_url(run, run.result_file("report_thumbs") / f"{row}.jpg") for row in range(len(run.files))],
        [_url(run, run.photo(name)) for name in run.files], titles, run.batch_of)


def _page(run, clusters, pairs):
    bodies = {
        "scores": _scores_body(run),
        "k-choice": _k_choice_body(run),
        "tsne": _tsne_body(run),
        "som": _som_body(run),
        "clusters": "".join(_cluster_row(run, cluster) for cluster in clusters),
        "split-models": _split_models_body(run),
        "merged-pairs": _pairs_body(run, pairs),
        "rejected": _rejected_body(run),
        "exports": _exports_body(run),
    }
    sections = "".join(f'<section id="{key}"><h2>{SECTIONS[key]}</h2>{bodies[key]}</section>\n' for key in SECTIONS)
    nav = " ".join(f'<a href="#{key}">{title}</a>' for key, title in SECTIONS.items())
    title = f"Product clusters: {_text(run.settings.dataset)}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{STYLE}</style></head>\n<body>"
            f'<header id="summary"><h1>{title}</h1>{_summary(run, clusters)}<nav>{nav}</nav></header>\n'
            f"{sections}</body></html>\n")


def _summary(run, clusters):
    features = run.features_info
    described = f", features: {_text(features.get('backbone'))} ({_text(features.get('source'))})"
    if "self_training" in features:
        learnt = features["self_training"]
        described += (f", self-trained on {learnt['known_models']} known models and {learnt['pseudo_models']} "
                      f"clusters taken as pseudo-models ({learnt['pseudo_photos']} photos)")
    small = (_note(f"Only {len(run.files)} photos: at this size the scores and the number of clusters say little.")
             if len(run.files) < SMALL_SET_PHOTOS else "")
    return (f"<p>{len(run.listed)} photos listed, {len(run.files)} clustered, {len(run.rejections)} rejected; "
            f"{len(clusters)} clusters by {_text(run.clustering.get('method', '?'))}{described}.</p>{small}")


def _note(text):
    return f'<p class="note">{text}</p>'


def _picture(run, name, alt):
    if not run.result_file(name).is_file():
        return _note(f"{_text(name)} is missing: run visualize.py.")
    return f'<img class="picture" src="{_link(run, run.result_file(name))}" alt="{_text(alt)}">'


def _score_cell(value):
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else _text(value)


def _scores_body(run):
    if run.models is None:
        return _note("No scores: no photo is named MODELID_PRODUCTID_IMAGEID, so no true model is known.")
    if not run.metrics:
        return _note("No scores: evaluation.py has not run on these clusters.")
    parts = run.metrics["scores"]
    columns = [key for key in metrics.TABLE_COLUMNS if any(scores and key in scores for scores in parts.values())]
    head = '<tr><th class="text">photos</th>' + "".join(f"<th>{_text(key)}</th>" for key in columns) + "</tr>"
    rows = "".join(f'<tr><td class="text">{_text(part)}</td>'
                   + "".join(f"<td>{_score_cell((scores or {}).get(key))}</td>" for key in columns) + "</tr>"
                   for part, scores in parts.items())
    recall = run.metrics.get("recall_at_1_unseen")
    recall_note = "" if recall is None else _note(f"Recall@1 of the features on unseen models: {recall:.4f}.")
    return (f"<table>{head}{rows}</table>{recall_note}"
            + _note("seen: models used for fine-tuning; unseen: the others. ARI is the headline score."))


def _k_choice_body(run):
    info = run.clustering
    added = info.get("assignment")
    if added:  # k is stage 04's choice plus the clusters new photos opened
        info = {**info, "k": added["k_of_stage_04"]}
    return _stage_04_k(run, info) + (_added_note(added, run.clustering["k"]) if added else "")


def _added_note(added, k):
    photos = sum(batch["photos"] for batch in added["batches"])
    opened = sum(batch["new_clusters"] for batch in added["batches"])
    return _note(f"Stage 05 then added {photos} photos in {len(added['batches'])} batch(es): "
                 f"{sum(batch['joined'] for batch in added['batches'])} joined existing clusters and the others "
                 f"opened {opened} new ones, so there are now k = {k} clusters; new photos are outlined in blue.")


def _stage_04_k(run, info):
    k, criterion, curve = info.get("k"), info.get("k_criterion"), info.get("criterion_curve") or {}
    learnt = info.get("calibration")
    if learnt:
        capped = (f" (it gave {learnt['k_capped_from']}, more than the map's occupied nodes)"
                  if learnt.get("k_capped_from") else "")
        return (f"<p>k = {_text(k)} clusters{capped}, calibrated on {learnt['n_photos']} photos of "
                f"{learnt['n_models']} known models held out of fine-tuning: their photos are grouped best (ARI "
                f"{learnt['ari']:.3f}) where Ward's tree is cut at merge cost {learnt['threshold']:.3f}, and this "
                "set's tree cut there holds k groups.</p>" + _picture(run, "k_chart", "calibration of k"))
    if not curve:
        how = (f"given by {_text(info.get('k_given_by', 'the settings'))}" if criterion == "given"
               else f"set by {_text(criterion or info.get('method'))}")
        return f"<p>k = {_text(k)} clusters, {how}; no criterion curve.</p>"
    agreement = (info.get("settings") or {}).get("agreement")
    if agreement:
        return f"<p>{_agreement_text(k, agreement, info['settings'].get('criterion'))}</p>" + _picture(
            run, "k_chart", "criterion against k")
    value = curve.get(str(k))
    at_k = f" (value {value:.4f})" if isinstance(value, float) else ""
    return (f"<p>k = {_text(k)} clusters, chosen by the {_text(criterion)} criterion{at_k} among "
            f"{len(curve)} candidate values.</p>" + _picture(run, "k_chart", "criterion against k"))


def _agreement_text(k, agreement, criterion):
    maps = (f"{len(agreement['maps_k'])} maps trained from different seeds (each chose k by the {_text(criterion)} "
            f"criterion: {_text(', '.join(map(str, agreement['maps_k'])))})")
    if agreement["kept"]:
        return (f"k = {_text(k)} clusters, chosen by the agreement of {maps}: photos share a cluster only where "
                "every map puts them together, and a sliver where the maps cut one group differently rejoins it.")
    stood = ("separated the photos best" if "maps_silhouette" in agreement  # older runs kept the typical map
             else "was the most typical")
    return (f"k = {_text(k)} clusters, from the one of {maps} that {stood}. What they agreed on "
            f"(k = {agreement['k']}) separated the photos less well than the most typical map (silhouette "
            f"{agreement['agreed_silhouette']:.3f} against {agreement['typical_silhouette']:.3f}), so it was not kept.")


def _tsne_body(run):
    panels = "true model (left) and predicted cluster (right)" if run.models is not None else "predicted cluster"
    return f"<p>Photos placed by t-SNE of their features, coloured by {panels}.</p>" + _picture(
        run, "tsne", "t-SNE map")


def _som_body(run):
    grid = run.clustering.get("settings", {}).get("grid")
    if not run.settings.path("som_weights").is_file() or not grid:
        return _note(f"The method {_text(run.clustering.get('method'))} uses no map.")
    return (f"<p>{int(grid[0])} x {int(grid[1])} map: dark cells lie far from their neighbours, circles count "
            "photos per node, red lines are cluster borders.</p>" + _picture(run, "umatrix", "SOM U-matrix"))


def _thumb(run, src, name, title):
    batch = run.batch_of.get(name)
    if batch is not None:
        title += f", new: added with batch {batch}"
    added = ' class="added"' if batch is not None else ""
    return (f'<a href="{_link(run, run.photo(name))}"><img{added} src="{_link(run, src)}" loading="lazy" '
            f'decoding="async" width="{THUMB_SIDE}" height="{THUMB_SIDE}" alt="{_text(name)}" '
            f'title="{_text(title)}"></a>')


def _row_thumb(run, row):
    name = run.files[row]
    model = f", model {run.models[row]}" if run.models is not None else ""
    return _thumb(run, run.result_file("report_thumbs") / f"{row}.jpg", name, f"{name}{model}")


def _cluster_row(run, cluster):
    size = len(cluster.members)
    heading = f"Cluster {cluster.label}<span>{size} photo{'s' if size != 1 else ''}</span>"
    models = ""
    if cluster.model_counts:
        mixed = ' class="mixed"' if cluster.purity < 1 else ""
        heading += f"<span{mixed}>purity {cluster.purity:.2f}</span>"
        named = ", ".join(f"{_text(model)} &times; {count}"
                          for model, count in cluster.model_counts[:MODELS_NAMED_PER_CLUSTER])
        others = len(cluster.model_counts) - MODELS_NAMED_PER_CLUSTER
        models = f'<p class="models">{named}{f" and {others} more models" if others > 0 else ""}</p>'
    hidden = size - len(cluster.shown)
    more = f'<span class="more">+ {hidden} more</span>' if hidden else ""
    thumbs = "".join(_row_thumb(run, row) for row in cluster.shown)
    return (f'<div class="cluster" id="cluster-{cluster.label}"><h3>{heading}</h3>{models}'
            f'<div class="thumbs">{thumbs}{more}</div></div>\n')


def _pairs_body(run, pairs):
    if run.models is None:
        return _note("The photos have no true models.")
    if not pairs:
        return _note("No cluster holds photos of two models.")
    head = ('<tr><th class="text">model</th><th class="text">model</th><th>photo pairs together</th>'
            '<th class="text">clusters (photos of each)</th></tr>')
    rows = "".join(_pair_row(run, pair) for pair in pairs)
    return (f"<table>{head}{rows}</table>"
            + _note("Photo pairs of two models placed in one cluster; each such pair lowers the ARI."))


def split_models(run):
    """(model, photos, [(cluster, photos of the model in it), ...]) for each model spread over clusters,
    the most spread first: the errors that cluster purity cannot show."""
    if run.models is None:
        return []
    spread = []
    for model in np.setdiff1d(np.unique(run.models), [UNNAMED_MODEL]):
        clusters, counts = np.unique(run.clusters[run.models == model], return_counts=True)
        if len(clusters) > 1:
            parts = sorted(zip(clusters.tolist(), counts.tolist()), key=lambda pair: (-pair[1], pair[0]))
            spread.append((str(model), int(counts.sum()), parts))
    return sorted(spread, key=lambda entry: (-len(entry[2]), entry[0]))


def _split_models_body(run):
    if run.models is None:
        return _note("The photos have no true models.")
    spread = split_models(run)
    if not spread:
        return _note("Every model's photos are in one cluster.")
    rows = "".join(f'<tr><td class="text">{_text(model)}</td><td>{photos}</td><td>{len(parts)}</td>'
                   f'<td class="text">{", ".join(f"{cluster} ({count})" for cluster, count in parts)}</td></tr>'
                   for model, photos, parts in spread)
    head = ('<tr><th class="text">model</th><th>photos</th><th>clusters</th>'
            '<th class="text">clusters (photos of the model in each)</th></tr>')
    n_models = len(np.setdiff1d(np.unique(run.models), [UNNAMED_MODEL]))
    return (_note(f"{len(spread)} of {n_models} models have photos in more than one cluster; "
                  "a cluster can be pure while its model is split.") + f"<table>{head}{rows}</table>")


def _pair_row(run, pair):
    where = ", ".join(f'<a href="#cluster-{label}">{label}</a> ({count_a} + {count_b})'
                      for label, count_a, count_b in pair.shared)
    return (f'<tr><td class="text">{_row_thumb(run, pair.example_a)}<br>{_text(pair.model_a)}</td>'
            f'<td class="text">{_row_thumb(run, pair.example_b)}<br>{_text(pair.model_b)}</td>'
            f'<td>{pair.photo_pairs}</td><td class="text">{where}</td></tr>')


def _rejected_body(run):
    if run.rejections.empty:
        return _note("No photo was rejected.")
    shown = run.rejections.head(REJECTED_SHOWN)
    rows = "".join(
        f'<tr><td>{_thumb(run, run.result_file("report_thumbs") / f"rejected_{index}.jpg", name, name)}</td>'
        f'<td class="text">{_text(name)}</td><td class="text">{_text(reasons)}</td></tr>'
        for index, (name, reasons) in enumerate(zip(shown["file"], shown["reasons"])))
    hidden = len(run.rejections) - len(shown)
    more = _note(f"{hidden} more in {_text(run.result_file('clusters_export').name)}.") if hidden else ""
    return f'<table><tr><th></th><th class="text">file</th><th class="text">why</th></tr>{rows}</table>{more}'


def _exports_body(run):
    result = run.result_file
    items = [
        (result("cluster_links"), "one folder per cluster with links to the original photos"),
        (result("clusters_export"), "every photo with its original path, cluster, true model and rejection reasons"),
        (result("projector") / "projector_config.pbtxt",
         "Embedding Projector files (features.tsv, metadata.tsv, sprite.jpg): load the two TSV files with "
         "<em>Load</em> at projector.tensorflow.org (no install), or <code>pip install tensorboard</code> and run "
         f"<code>tensorboard --logdir {_text(os.path.relpath(result('projector'), run.settings.root))}</code>"),
        (result("contact_sheet"), "contact sheet of the largest clusters as one PNG"),
    ]
    listed = "".join(f'<li><a href="{_link(run, path)}">{_text(path.name)}</a>: {what}</li>'
                     for path, what in items if path.exists())
    return f"<ul>{listed}</ul>"
