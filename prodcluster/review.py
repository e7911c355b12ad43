"""review.html: every cluster as a row of thumbnails, and the actions that correct them.

The page is one file that opens from disk, with its script and style inside (review.js and
review.css beside this module) and the run's clusters as JSON: no network, no server. A
reviewer merges clusters, splits photos off, moves photos, marks photos "not a product",
names or confirms clusters, with undo and redo; the decisions persist in the browser's
storage for this run and are exported as review.json, which apply_review.py applies
(corrections.py replays them). The thumbnails are the report's (report_files/), loaded lazily.

How sure the clustering is about a cluster comes from the features: a photo fits its
cluster when it matches the cluster's centre at least as well as 98% of the run's photos
match theirs (the threshold new photos must reach to join, assign.py); a cluster is "sure"
in the share of its photos that fit it and lie nearest its centre. Clusters with photos that
do not fit, or whose centre is as close to another cluster's as a typical photo is to its own
centre (one model split in two), are the ones the page's filter shows first.
"""
import html
import json
from pathlib import Path

import numpy as np

from . import assign, corrections

SOURCE = Path(__file__).parent


def page_data(dataset, run_id, files, features, clusters, thumbs, links, titles, batch_of):
    """What the page shows, as JSON-ready lists: the run, every photo and every cluster, largest first."""
    fit, sure, nearest, close, threshold = _confidence(features, clusters)
    photos = [{"file": name, "thumb": thumb, "href": link, "title": title, "fits": bool(fits),
               "new": batch_of.get(name)} for name, thumb, link, title, fits in zip(files, thumbs, links, titles, fit)]
    labels, counts = np.unique(clusters, return_counts=True)
    rows = []
    for label in labels[np.lexsort((labels, -counts))]:
        members = np.flatnonzero(clusters == label)
        members = members[np.argsort(~fit[members], kind="stable")]  # photos that do not fit come last
        rows.append({"label": int(label), "photos": members.tolist(), "sure": round(float(sure[label]), 3),
                     "poor": int((~fit[members]).sum()),
                     "near": int(nearest[label]) if close[label] else None})
    return {"format": corrections.FORMAT, "dataset": dataset, "run": run_id, "photos": photos, "clusters": rows,
            "fit_similarity": threshold}


def _confidence(features, clusters):
    """(photo fits its cluster, {label: share sure}, {label: nearest other label}, {label: near enough to be one
    model}, the fit threshold); with no cluster of two photos to learn from, every photo fits."""
    unit = assign.unit(features)
    labels, centre_rows = assign.centres(unit, clusters)
    rows = np.searchsorted(labels, clusters)
    to_centres = unit @ centre_rows.T
    own = to_centres[np.arange(len(unit)), rows]
    try:
        threshold = assign.learn_thresholds(unit, clusters).join
    except ValueError:
        threshold = float(own.min()) if len(own) else 0.0
    fit = own >= threshold
    nearest_own = to_centres.argmax(axis=1) == rows
    between = centre_rows @ centre_rows.T
    np.fill_diagonal(between, -np.inf)
    typical = float(np.median(own))
    sure, nearest, close = {}, {}, {}
    for index, label in enumerate(labels.tolist()):
        members = rows == index
        sure[label] = float((fit & nearest_own)[members].mean())
        other = int(between[index].argmax()) if len(labels) > 1 else index
        nearest[label], close[label] = int(labels[other]), bool(len(labels) > 1 and between[index, other] >= typical)
    return fit, sure, nearest, close, round(threshold, 4)


def page(data):
    """The whole page: the run's JSON (made safe inside a script element), review.css and review.js."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    template = (SOURCE / "review.html.in").read_text(encoding="utf-8")
    return (template.replace("{{title}}", html.escape(f"Review clusters: {data['dataset']}"))
            .replace("{{style}}", (SOURCE / "review.css").read_text(encoding="utf-8"))
            .replace("{{script}}", (SOURCE / "review.js").read_text(encoding="utf-8"))
            .replace("{{data}}", payload))
