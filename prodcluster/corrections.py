"""A review's decisions (review.json, exported by review.html) replayed on a run's clusters.

A reviewer merges clusters, splits photos off into a new cluster, moves photos to another
cluster, marks photos "not a product", names a cluster or confirms it as right. Each decision
names the clusters and photos it touched as the page saw them, so replaying it here checks
that the review was made on these clusters: a photo that is gone, a cluster number the run
does not have, or a photo that is not where the decision says it was stops the replay with
a message, before anything is written. The page replays the same decisions the same way.

The clusters a decision touched and that still hold photos at the end are the reviewed
clusters: each becomes a known model (`reviewed_models`), named by the reviewer or after its
number.
"""
import hashlib
import json
import re
from dataclasses import dataclass, field

FORMAT = "prodcluster-review/1"
ACTIONS = {  # action: (takes photos, its `into` is an existing cluster, a new one, or none)
    "merge": (True, "existing"),
    "split": (True, "new"),
    "move": (True, "existing"),
    "not_product": (True, None),
    "name": (False, None),
    "confirm": (False, None),
}
MODEL_PREFIX = "review-"  # model ids of reviewed clusters, apart from the ids in photo names


class ReviewError(ValueError):
    """A review that cannot be applied to this run; the message says why."""


@dataclass
class Replayed:
    """The run's clusters after a review."""

    cluster_of: dict  # {file: cluster} of every photo still clustered
    not_product: list  # photos marked "not a product", in decision order
    names: dict  # {cluster: name given by the reviewer}
    reviewed: set = field(default_factory=set)  # clusters a decision touched that still hold photos


def review_id(review):
    """A short digest of what a review decided, on which run: the same file applied twice has the same id."""
    text = json.dumps({key: review[key] for key in ("run", "decisions")}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def checked(review, dataset, source="review.json"):
    """`review` (parsed JSON) if it is a well-formed review of `dataset`; else ReviewError naming the problem."""
    if not isinstance(review, dict) or review.get("format") != FORMAT:
        raise ReviewError(f"{source} is not a review exported by review.html (no \"format\": \"{FORMAT}\")")
    if review.get("dataset") != dataset:
        raise ReviewError(f"{source} reviews data set {review.get('dataset')!r}, not {dataset!r}: "
                          f"pass --dataset {review.get('dataset')}")
    if not isinstance(review.get("run"), str) or not isinstance(review.get("decisions"), list):
        raise ReviewError(f"{source} lacks its \"run\" or its list of \"decisions\"")
    for number, decision in enumerate(review["decisions"], 1):
        _check_decision(decision, f"{source}, decision {number}")
    return review


def _check_decision(decision, where):
    if not isinstance(decision, dict) or decision.get("action") not in ACTIONS:
        raise ReviewError(f"{where}: the action must be one of {', '.join(ACTIONS)}")
    takes_photos, into = ACTIONS[decision["action"]]
    clusters, photos = decision.get("clusters"), decision.get("photos", [])
    if not isinstance(clusters, list) or not clusters or not all(_is_number(c) for c in clusters):
        raise ReviewError(f"{where}: \"clusters\" must list the cluster numbers it touched")
    if not isinstance(photos, list) or not all(isinstance(p, str) for p in photos) or (takes_photos and not photos):
        raise ReviewError(f"{where}: \"photos\" must list the photo files it touched")
    if into and not _is_number(decision.get("into")):
        raise ReviewError(f"{where}: \"into\" must be the number of the cluster the photos went to")
    if decision["action"] == "name" and not (isinstance(decision.get("name"), str) and decision["name"].strip()):
        raise ReviewError(f"{where}: a name decision needs a non-empty \"name\"")


def _is_number(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def replay(review, cluster_of, source="review.json"):
    """Apply the checked `review`'s decisions to {file: cluster}; ReviewError where one does not fit the run."""
    state = Replayed(cluster_of=dict(cluster_of), not_product=[], names={})
    for number, decision in enumerate(review["decisions"], 1):
        _apply(state, decision, f"{source}, decision {number} ({decision['action']})")
    present = set(state.cluster_of.values())
    state.reviewed &= present
    state.names = {cluster: name for cluster, name in state.names.items() if cluster in present}
    _refuse_shared_names(state.names, source)
    return state


def _apply(state, decision, where):
    clusters, photos, into = decision["clusters"], decision.get("photos", []), decision.get("into")
    present = set(state.cluster_of.values())
    missing = [c for c in clusters if c not in present]
    if missing:
        raise ReviewError(f"{where}: cluster {missing[0]} is not in this run (another run's numbers?)")
    for photo in photos:
        if photo not in state.cluster_of:
            raise ReviewError(f"{where}: photo {photo!r} is not clustered in this run (removed, or another run's)")
        if state.cluster_of[photo] not in clusters and state.cluster_of[photo] != into:
            raise ReviewError(f"{where}: photo {photo!r} is in cluster {state.cluster_of[photo]}, not in "
                              f"{_listed(clusters)} as the review says (another run's numbers?)")
    kind = ACTIONS[decision["action"]][1]
    if kind == "existing" and into not in present:
        raise ReviewError(f"{where}: cluster {into} is not in this run (another run's numbers?)")
    if kind == "new" and into in present:
        raise ReviewError(f"{where}: the new cluster's number {into} is taken in this run (another run's numbers?)")
    if decision["action"] == "not_product":
        for photo in photos:
            del state.cluster_of[photo]
            state.not_product.append(photo)
    elif decision["action"] == "name":
        state.names[clusters[0]] = decision["name"].strip()
    for photo in photos if kind else ():
        state.cluster_of[photo] = into
    if decision["action"] == "merge":  # every photo of the merged clusters follows, listed or not
        for photo, cluster in state.cluster_of.items():
            if cluster in clusters:
                state.cluster_of[photo] = into
    state.reviewed |= {*clusters, *([into] if kind else [])}


def _listed(clusters):
    return ", ".join(map(str, clusters))


def _refuse_shared_names(names, source):
    by_name = {}
    for cluster, name in sorted(names.items()):
        by_name.setdefault(model_id(cluster, name), []).append(cluster)
    for clusters in by_name.values():
        if len(clusters) > 1:
            alike = ", ".join(repr(names[cluster]) for cluster in clusters)
            raise ReviewError(f"{source} names clusters {_listed(clusters)} alike ({alike}): merge them in "
                              "review.html, or give them different names")


def reviewed_models(state, identity):
    """{file: model id} of the photos of the reviewed clusters: one known model per reviewed cluster."""
    model_of = {cluster: model_id(cluster, state.names.get(cluster), identity) for cluster in state.reviewed}
    return {photo: model_of[cluster] for photo, cluster in state.cluster_of.items() if cluster in model_of}


def model_id(cluster, name=None, identity=""):
    """A reviewed cluster's model id: its name made safe for a folder name (the same name in a later review is the
    same model), or the review's id and the cluster's number (numbers change when stage 04 runs again)."""
    slug = re.sub(r"[^A-Za-z0-9-]+", "-", name or "").strip("-").lower()
    return MODEL_PREFIX + (slug or f"{identity[:8]}-cluster-{cluster}")


def keep_reviewed_whole(labels, reviewed):
    """Clusters in which every reviewed model is one whole cluster of its own; the other photos keep theirs.

    labels: a clustering's cluster of each photo; reviewed: the reviewed model of each photo ("" for
    none). Each model, the largest first, takes the cluster number that holds most of its photos
    and that no larger model took, else a new number; its photos all move there. The photos of
    no reviewed model stay where the clustering put them, so a cluster a model took keeps them.
    """
    labels, reviewed = [int(label) for label in labels], list(reviewed)
    members = {}
    for row, model in enumerate(reviewed):
        if model:
            members.setdefault(model, []).append(row)
    taken, fresh = set(), max(labels, default=-1) + 1
    home = {}
    for model in sorted(members, key=lambda m: (-len(members[m]), m)):
        counts = {}
        for row in members[model]:
            counts[labels[row]] = counts.get(labels[row], 0) + 1
        free = sorted((label for label in counts if label not in taken), key=lambda label: (-counts[label], label))
        home[model] = free[0] if free else fresh
        fresh += not free
        taken.add(home[model])
    return [home[reviewed[row]] if reviewed[row] else label for row, label in enumerate(labels)]
