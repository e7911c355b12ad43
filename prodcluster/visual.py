"""Every picture of a run: t-SNE map, SOM U-matrix, contact sheet, choice of k, fine-tuning learning curve.

Figures are drawn on matplotlib `Figure` objects with the Agg canvas and never go
through pyplot, so no window opens and no global plotting state is touched; every
file is written atomically.
"""
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from .batches import square_resize
from .arrays import checked_features, sample_rows
from .calibration import TIE
from .fileio import ImageError, atomic_path, read_image
from .settings import DEFAULTS

PCA_DIMS = 50
FEW_LABELS_PALETTE = colormaps["tab10"]  # distinct colours and a legend up to its size
MANY_LABELS_PALETTE = colormaps["turbo"]
LUMINANCE_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])  # of red, green and blue (Rec. 709)
MAX_LUMINANCE = 0.7  # lighter colours are darkened to this, so every point shows on the white background
MISSING_THUMB_GREY = 200
THUMB_GAP = 2  # white pixels between thumbnails
BORDER_COLOUR = "red"
DPI = 100


def _save_figure(figure, path):
    path = Path(path)
    with atomic_path(path) as tmp:
        file_format = path.suffix.lstrip(".").lower() or "png"
        figure.savefig(tmp, format=file_format, dpi=DPI, bbox_inches="tight")


def _label_colours(labels):
    """Label names, one colour per name, and each photo's index into the names."""
    names, codes = np.unique(labels.astype(str), return_inverse=True)
    if len(names) <= FEW_LABELS_PALETTE.N:
        return names, FEW_LABELS_PALETTE(np.arange(len(names))), codes
    # Shuffled positions on a wide colour map, so that neighbouring ids get distinct colours.
    positions = np.random.default_rng(0).permutation(len(names)) / (len(names) - 1)
    colours = MANY_LABELS_PALETTE(positions)
    luminance = colours[:, :3] @ LUMINANCE_WEIGHTS
    colours[:, :3] *= np.minimum(1.0, MAX_LUMINANCE / luminance)[:, None]
    return names, colours, codes


def matched_colours(labels_true, labels_pred):
    """({true name: colour}, {cluster name: colour}): each cluster takes the colour of the true model it
    shares most photos with (one cluster per model, Hungarian matching); clusters left over get colours
    no model has, so a split model shows as two colours and a merge as one."""
    true_names, true_colours, true_codes = _label_colours(np.asarray(labels_true))
    pred_names, pred_codes = np.unique(np.asarray(labels_pred).astype(str), return_inverse=True)
    overlap = np.zeros((len(pred_names), len(true_names)))
    np.add.at(overlap, (pred_codes, true_codes), 1)
    clusters, models = linear_sum_assignment(overlap, maximize=True)
    by_cluster = {pred_names[c]: true_colours[m] for c, m in zip(clusters, models)}
    leftover = [name for name in pred_names if name not in by_cluster]
    if leftover:
        _, extra, _ = _label_colours(np.array([f"extra {index}" for index in range(len(leftover) + len(true_names))]))
        by_cluster.update(zip(leftover, extra[len(true_names):]))
    return dict(zip(true_names, true_colours)), by_cluster


def _scatter_panel(axes, embedding, labels, title, colour_of=None):
    names, colours, codes = _label_colours(labels)
    if colour_of is not None:
        colours = np.array([colour_of[name] for name in names])
    axes.scatter(embedding[:, 0], embedding[:, 1], c=colours[codes], s=8, linewidths=0)
    axes.set_title(f"{title} ({len(names)} groups)")
    axes.set_xticks([])
    axes.set_yticks([])
    if len(names) <= FEW_LABELS_PALETTE.N:
        handles = [axes.scatter([], [], color=colour, s=20) for colour in colours]
        axes.legend(handles, names, fontsize="small", loc="best")


def _check_length(labels, n_rows, name):
    labels = np.asarray(labels)
    if labels.shape != (n_rows,):
        raise ValueError(f"{name} must have one entry per row ({n_rows}), got shape {labels.shape}")
    return labels


def _tsne_2d(features, perplexity, seed):
    if features.shape[1] > PCA_DIMS:
        n_dims = min(PCA_DIMS, len(features))
        features = PCA(n_components=n_dims, random_state=seed).fit_transform(features)
    # t-SNE needs perplexity < number of points; a third of the points keeps neighbourhoods local.
    perplexity = max(1.0, min(float(perplexity), (len(features) - 1) / 3))
    init = "pca" if min(features.shape) >= 2 else "random"
    # Barnes-Hut t-SNE's OpenMP loop slows 50-fold when another process holds a core; for
    # the sizes drawn here one thread is fast and steady.
    with threadpool_limits(limits=1, user_api="openmp"):
        return TSNE(perplexity=perplexity, init=init, random_state=seed).fit_transform(features)


def plot_tsne(features, labels_true, labels_pred, path, perplexity=DEFAULTS.tsne_perplexity, seed=DEFAULTS.seed,
              max_points=5000):
    """Draw a t-SNE map coloured by true model (when known) and by predicted cluster, each cluster
    in the colour of the model it matches (`matched_colours`).

    Above `max_points` photos a seeded sample is drawn. Returns an N x 2 array aligned
    with `features`; rows left out of the sample are NaN.
    """
    features = checked_features(features, np.float64)
    labels_pred = _check_length(labels_pred, len(features), "labels_pred")
    if labels_true is not None:
        labels_true = _check_length(labels_true, len(features), "labels_true")
    if perplexity <= 0 or max_points < 2:
        raise ValueError(f"need perplexity > 0 and max_points >= 2, got {perplexity} and {max_points}")
    rows = sample_rows(len(features), max_points, seed)
    embedding = np.full((len(features), 2), np.nan)
    embedding[rows] = _tsne_2d(features[rows], perplexity, seed)
    panels = [("predicted cluster", labels_pred, None)]
    if labels_true is not None:
        true_colours, cluster_colours = matched_colours(labels_true, labels_pred)
        panels = [("true model", labels_true, true_colours), ("predicted cluster", labels_pred, cluster_colours)]
    figure = Figure(figsize=(7 * len(panels), 7))
    for axes, (title, labels, colours) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        _scatter_panel(axes, embedding[rows], labels[rows], title, colours)
    _save_figure(figure, path)
    return embedding


def umatrix(weights):
    """Mean Euclidean distance of each SOM node's weights to its (up to 8) grid neighbours."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 3 or weights.shape[0] * weights.shape[1] < 2:
        raise ValueError(f"weights must be rows x cols x dim with at least 2 nodes, got shape {weights.shape}")
    rows, cols, _ = weights.shape
    padded = np.pad(weights, ((1, 1), (1, 1), (0, 0)), constant_values=np.nan)
    offsets = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
    distances = [
        np.linalg.norm(padded[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols] - weights, axis=2)
        for dr, dc in offsets
    ]
    return np.nanmean(distances, axis=0)


def _cluster_border_segments(node_labels):
    """Line segments (in node coordinates) between grid neighbours of different clusters."""
    segments = []
    for r, c in zip(*np.nonzero(node_labels[:, 1:] != node_labels[:, :-1])):
        segments.append([(c + 0.5, r - 0.5), (c + 0.5, r + 0.5)])
    for r, c in zip(*np.nonzero(node_labels[1:, :] != node_labels[:-1, :])):
        segments.append([(c - 0.5, r + 0.5), (c + 0.5, r + 0.5)])
    return segments


def _draw_cluster_borders(axes, node_labels, grid_shape):
    node_labels = np.asarray(node_labels)
    if node_labels.shape != grid_shape:
        raise ValueError(f"node_labels must have shape {grid_shape}, got {node_labels.shape}")
    segments = _cluster_border_segments(node_labels)
    axes.add_collection(LineCollection(segments, colors=BORDER_COLOUR, linewidths=2))


def plot_umatrix(weights, hits, path, node_labels=None):
    """Draw the U-matrix (dark = far from neighbours, a gap between groups), photos per node as
    circle area, and, with `node_labels`, borders between nodes of different clusters."""
    distances = umatrix(weights)
    hits = np.asarray(hits)
    if hits.shape != distances.shape or (hits < 0).any():
        raise ValueError(f"hits must be non-negative counts of shape {distances.shape}, got {hits.shape}")
    rows, cols = distances.shape
    figure = Figure(figsize=(max(6.0, cols * 0.5 + 2), max(5.0, rows * 0.5)), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(distances, cmap="bone_r", interpolation="nearest")
    figure.colorbar(image, ax=axes, label="mean distance\nto neighbours", shrink=0.8)
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_locator(MaxNLocator(integer=True))  # nodes are whole numbers
    node_r, node_c = np.nonzero(hits)
    sizes = 150 * hits[node_r, node_c] / max(hits.max(), 1)
    axes.scatter(node_c, node_r, s=sizes, facecolors="none", edgecolors="tab:orange", linewidths=1.2)
    if node_labels is not None:
        _draw_cluster_borders(axes, node_labels, distances.shape)
    axes.set_title(f"SOM U-matrix, {rows} x {cols} nodes, {int(hits.sum())} photos\n"
                   "circle area: photos per node", fontsize="medium")
    _save_figure(figure, path)


def _thumbnail(image_path, size):
    """Square thumbnail on white, aspect kept; a grey square when the photo cannot be read."""
    try:
        image = read_image(image_path)
    except ImageError:
        return np.full((size, size, 3), MISSING_THUMB_GREY, dtype=np.uint8)
    return square_resize(image, size)


def _largest_clusters(labels, max_clusters):
    """(label, member indices) for the largest clusters, ties broken by label (numbers by value)."""
    names, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = sorted(range(len(names)), key=lambda i: (-counts[i], names[i]))[:max_clusters]
    return [(names[i], np.flatnonzero(codes == i)) for i in order]


def plot_contact_sheet(image_paths, labels, path, per_row=8, max_clusters=20, thumb=64):
    """Draw one row of thumbnails per predicted cluster, largest cluster at the top; return the caption,
    which says how many of the clusters are shown."""
    image_paths = list(image_paths)
    labels = _check_length(labels, len(image_paths), "labels")
    if not image_paths:
        raise ValueError("image_paths is empty")
    if min(per_row, max_clusters, thumb) < 1:
        raise ValueError(f"per_row, max_clusters and thumb must be >= 1, got {per_row}, {max_clusters}, {thumb}")
    clusters = _largest_clusters(labels, max_clusters)
    total = len(np.unique(labels))
    caption = (f"all {total} clusters, largest first" if len(clusters) == total else
               f"the {len(clusters)} largest of {total} clusters (the other {total - len(clusters)} are in "
               "report.html)")
    cell = thumb + THUMB_GAP
    sheet = np.full((len(clusters) * cell, per_row * cell, 3), 255, dtype=np.uint8)
    for row, (_, members) in enumerate(clusters):
        for column, index in enumerate(members[:per_row]):
            top, left = row * cell, column * cell
            sheet[top : top + thumb, left : left + thumb] = _thumbnail(image_paths[index], thumb)
    # Axes fill the figure exactly, so each thumbnail keeps its pixels; tight saving adds the labels.
    figure = Figure(figsize=(sheet.shape[1] / DPI, sheet.shape[0] / DPI))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(sheet, interpolation="nearest")
    axes.set_yticks([row * cell + thumb / 2 for row in range(len(clusters))])
    axes.set_yticklabels([f"{name} ({len(members)})" for name, members in clusters], fontsize="small")
    axes.set_xticks([])
    axes.set_title(caption, fontsize="small", loc="left")
    _save_figure(figure, path)
    return caption


def thumbnail(image_path, size):
    """Square `size` x `size` RGB thumbnail of a photo on white, aspect kept; grey when unreadable."""
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size!r}")
    return _thumbnail(image_path, int(size))


def plot_k_criterion(result, path, k_true=None):
    """Draw each criterion against k, the k it chose alone, the k chosen and, when known, the true k;
    written atomically. Returns the figure."""
    if not result.criterion_curve:
        raise ValueError(f"this result ({result.method}, k by {result.k_criterion}) has no criterion curve to plot")
    curves = result.criterion_curves or {result.k_criterion: (result.k, result.criterion_curve)}
    agreement = result.settings.get("agreement")
    chosen = f"chosen: k = {result.k}" + (f", agreed by maps that chose {', '.join(map(str, agreement['maps_k']))}"
                                          if agreement and agreement["kept"] else "")
    figure = Figure(figsize=(7, 1 + 2.6 * len(curves)), layout="constrained")
    for axes, (name, (own_k, curve)) in zip(figure.subplots(len(curves), 1, squeeze=False)[:, 0], curves.items()):
        ks = sorted(curve)
        axes.plot(ks, [curve[k] for k in ks], marker=".", linewidth=1)
        if own_k == result.k:  # one line, else the chosen one would hide this criterion's own
            axes.axvline(result.k, color="tab:red", linestyle="--", label=f"{chosen} ({name} alone too)")
        else:
            axes.axvline(own_k, color="tab:blue", linestyle=":", label=f"{name} alone: k = {own_k}")
            axes.axvline(result.k, color="tab:red", linestyle="--", label=chosen)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        if k_true is not None:
            axes.axvline(k_true, color="tab:green", linewidth=1, label=f"true: k = {k_true}")
        axes.set_ylabel(name)
        axes.legend(fontsize="small")
    axes.set_xlabel("number of clusters k")
    figure.suptitle(f"{result.method}: choice of k (the larger of the criteria's choices wins)" if len(curves) > 1
                    else f"{result.method}: choice of k")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=100)
    return figure


def plot_calibration(calibration, k, path, k_true=None):
    """The calibration models' ARI and the clustered photos' count against Ward's merge cost, with the cost
    learnt and the k it gave (k: the clusters made, which a map can cap); written atomically."""
    figure = Figure(figsize=(7, 6), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    costs = sorted(calibration.curve)
    top.step(costs, [calibration.curve[cost] for cost in costs], where="post", marker=".", linewidth=1)
    top.axvspan(*calibration.cut_range, color="tab:orange", alpha=0.2, label=f"cuts within {TIE} of the best ARI")
    top.set_ylabel(f"ARI of the {calibration.n_models}\ncalibration models")
    grid = sorted(calibration.counts)
    bottom.step(grid, [calibration.counts[cost] for cost in grid], where="post")
    bottom.set(ylabel="clusters in this set", xlabel="Ward merge cost at which the tree is cut", xscale="log",
               yscale="log")
    for axes in (top, bottom):
        axes.axvline(calibration.threshold, color="tab:red", linestyle="--",
                     label=f"learnt: cost {calibration.threshold:.3f}, k = {k}")
    if k_true is not None:
        bottom.axhline(k_true, color="tab:green", linewidth=1, label=f"true: k = {k_true}")
    for axes in (top, bottom):
        axes.legend(fontsize="small")
    figure.suptitle("choice of k, calibrated on known models held out of fine-tuning")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=100)
    return figure


LEARNING_CURVE_NOTE = ("A contrastive loss grows with the photos in its batch: training batches hold many augmented "
                       "views,\nvalidation batches only the held-out photos, so read each line's trend, not the "
                       "gap between them.")


def plot_learning_curve(frame, path):
    """Training and validation loss per epoch, one panel (own scale) per phase; returns the panel titles.

    Losses are not comparable across phases (other batch sizes) nor between training and
    validation (other batches), which the figure's note says.
    """
    phases = list(frame.groupby("phase", sort=False))
    figure = Figure(figsize=(4 * len(phases) + 1, 4), layout="constrained")
    titles = []
    for axes, (phase, rows) in zip(figure.subplots(1, len(phases), squeeze=False)[0], phases):
        for column, colour in (("loss", "tab:blue"), ("val_loss", "tab:orange")):
            if column in rows:
                axes.plot(np.arange(1, len(rows) + 1), rows[column], marker="o", markersize=3, color=colour,
                          label="training" if column == "loss" else "validation")
        titles.append(f"phase {phase.replace('_', ' ')}")
        axes.set(xlabel="epoch", ylabel="loss", title=titles[-1])
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(fontsize="small")
    figure.suptitle(LEARNING_CURVE_NOTE, fontsize="small")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    return titles
