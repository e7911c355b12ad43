"""Learn from labelled models kept out of fine-tuning where one model ends, and count the models.

The calibration photos (models the split held out of fine-tuning, with their ids) are grouped
by Ward's hierarchy over unit vectors. Each cut of that tree is one partition; the cuts that
reproduce the models best (ARI within `TIE` of the best) span a range of merge costs, and the
middle of that range (on a log scale) is the cost at which two groups of photos stop being one
model. The photos of one model merge at costs set by their spread, whatever their number, so
the same cost cuts the tree of the photos being clustered, whose groups are sized otherwise:
the number of groups there is k (docs/decisions.md has the measurements).
"""
from dataclasses import asdict, dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.metrics import adjusted_rand_score

from .arrays import checked_features, sample_rows
from .assign import unit
from .split import MIN_CALIBRATION_MODELS as MIN_MODELS

TIE = 0.01  # cuts whose calibration ARI is this close to the best one are equally good
MAX_TREE_PHOTOS = 20_000  # Ward's tree needs N^2 / 2 distances; larger sets are counted on a seeded sample
CHART_POINTS = 200  # costs at which the clustered photos' count is recorded for the chart


@dataclass
class Calibration:
    """What the calibration models taught: the cost `threshold` and the count `k` it gives.

    ari: the calibration models' ARI at that cost; cut_range: the costs whose cuts are within
    TIE of the best; counts: {cost: groups in the clustered photos}, for the chart;
    counted_on: photos of the clustered set that the count was made on.
    """

    threshold: float
    k: int
    ari: float
    cut_range: tuple
    n_models: int
    n_photos: int
    counted_on: int
    curve: dict  # {cost of each cut of the calibration tree: its ARI}
    counts: dict  # {cost: k}, over the curve's range

    def as_dict(self):
        return {key: value for key, value in asdict(self).items() if key not in ("curve", "counts")}


def calibrated_count(features, calibration_vectors, calibration_models, seed=0):
    """Calibration learnt on (`calibration_vectors`, `calibration_models`) and applied to `features`.

    Raises ValueError where the calibration photos show fewer than MIN_MODELS models with two
    photos or more: with nothing to learn from, the caller keeps its own criterion.
    """
    data = checked_features(features)
    vectors = checked_features(calibration_vectors)
    models = np.asarray(calibration_models).astype(str)
    if len(models) != len(vectors):
        raise ValueError(f"{len(vectors)} calibration vectors but {len(models)} model ids")
    _, sizes = np.unique(models, return_counts=True)
    if np.count_nonzero(sizes >= 2) < MIN_MODELS:
        raise ValueError(f"the calibration photos show {np.count_nonzero(sizes >= 2)} models with two photos or "
                         f"more; at least {MIN_MODELS} are needed")
    tree = _tree(vectors)
    curve = _cut_scores(tree, models)
    threshold, cut_range, best = _threshold(tree[:, 2], curve)
    counted = data[sample_rows(len(data), MAX_TREE_PHOTOS, seed)]
    tree_costs = _merge_costs(counted)
    grid = np.geomspace(min(curve), max(curve), CHART_POINTS) if min(curve) > 0 else sorted(curve)
    counts = {float(cost): _groups_at(tree_costs, cost) for cost in grid}
    return Calibration(threshold=threshold, k=_groups_at(tree_costs, threshold), ari=best, cut_range=cut_range,
                       n_models=len(sizes), n_photos=len(vectors), counted_on=len(counted), curve=curve,
                       counts=counts)


def _tree(vectors):
    return linkage(unit(vectors), method="ward")


def _merge_costs(vectors):
    """Ward's merge costs of the tree over the vectors, in merge order (never decreasing)."""
    return _tree(vectors)[:, 2] if len(vectors) > 1 else np.zeros(0)


def _cut_scores(tree, models):
    """{cost: ARI} for every distinct cut of the calibration tree (the cost of its last merge)."""
    return {float(cost): float(adjusted_rand_score(models, fcluster(tree, cost, criterion="distance")))
            for cost in np.unique(tree[:, 2])}


def _threshold(heights, curve):
    """Middle, on a log scale, of the costs whose cuts score within TIE of the best; (threshold, (low, high),
    best ARI). A cut made at cost c holds until the next merge's cost, so the range ends there. The range's
    top grows with the calibration models' sizes (merging two models of n photos costs about sqrt(n) x the
    distance of their means), its bottom does not: the log scale keeps the threshold off the top.
    """
    best = max(curve.values())
    good = [cost for cost, score in curve.items() if score >= best - TIE]
    low, last = min(good), max(good)
    later = heights[heights > last]
    high = float(later[0]) if len(later) else last
    return float(np.sqrt(low * high)), (low, high), best


def _groups_at(costs, threshold):
    """Groups left when every merge costing at most `threshold` is made."""
    return int(len(costs) + 1 - np.searchsorted(costs, threshold, side="right"))
