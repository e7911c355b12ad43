"""New photos every day: stage 05's rule against clustering everything again, on the suite's protocols.

For each protocol the default pipeline fine-tunes on the known models and reads the test set's
photos (as the suite does). A seeded 70% of those photos make the catalogue that stage 04
clusters: every photo of most models and part of the others' (NEW_MODEL_SHARE of the models
are held back whole). The other photos come in three daily batches, each holding new photos of
catalogued models and photos of held-back ones. After each batch the catalogue as stage 05
left it (`assign.assign` on stage 03's vectors; the network is not refitted, so these are
the vectors stage 05 would read) is scored against the true models beside stage 04 run
afresh on every photo so far: ARI, k, the assignment's seconds, and the share of earlier
photos that kept their cluster number. Beside them, the bound of any rule that keeps the numbers:
the ARI when each new photo of a catalogued model joins that model's most common cluster and each
new model opens one cluster. The catalogue's own flaws (stage 04 on 70% of the photos) stay in it.
One more line times the rule on 1,000 new photos.

Records go to benchmarks/results/catalogue.json and a table into the README.
`python -m benchmarks.catalogue --help`; `--quick` runs tiny sets (the test suite does).
"""
import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import suite  # noqa: E402
from benchmarks.run_facts import git_commit, machine, publish  # noqa: E402
from prodcluster import assign, clustering, handoff, stages  # noqa: E402
from prodcluster.settings import DEFAULTS  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "catalogue.json"
START, END = "<!-- catalogue:start -->", "<!-- catalogue:end -->"
CATALOGUE_SHARE = 0.7  # of the test photos, clustered by stage 04 before any batch
NEW_MODEL_SHARE = 0.2  # of the test models, held back whole: they arrive as new models
BATCHES = 3
TIMED_PHOTOS = 1000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.catalogue", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", default=",".join(suite.BY_NAME),
                        help="comma-separated protocols (default: all): " + ", ".join(suite.BY_NAME))
    parser.add_argument("--quick", action="store_true", help="tiny sets, small photos and one epoch")
    parser.add_argument("--root", type=Path, default=REPO / "cache" / "catalogue", help="work folder of the sets")
    parser.add_argument("--join-quantiles", default=str(assign.JOIN_QUANTILE),
                        help="comma-separated JOIN_QUANTILE values to compare (default: %(default)s)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON record (default: %(default)s)")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md", help="README whose table is rebuilt")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.protocols.split(",")) - set(suite.BY_NAME))
    if unknown:
        parser.error(f"unknown protocol(s) {', '.join(unknown)}; choose from {', '.join(suite.BY_NAME)}")
    args.join_quantiles = [float(value) for value in args.join_quantiles.split(",")]
    return args


def test_vectors(protocol, args):
    """(fine-tuned vectors of the test photos, their true models): the suite's default run up to stage 03."""
    root = args.root / protocol.name
    protocol.write(root, args.quick)
    known, test = suite.protocol_settings(protocol, root, DEFAULTS.preprocess, args.quick)
    for settings in [known] if known is test else [known, test]:
        stages.make_labels(settings)
        stages.preprocess(settings)
    stages.make_training_folders(known)
    stages.fine_tune(known)
    stages.extract_features(test)
    features, files = handoff.load_features(test)
    models = handoff.load_labels(test).set_index("file").loc[files, "model_id"].to_numpy(dtype=str)
    labelled = models != ""
    return features[labelled], models[labelled], test.seed


def arrival_days(models, seed):
    """Day of each photo: 0 for the catalogue, 1 to BATCHES for the batches."""
    rng = np.random.default_rng(seed)
    names = np.unique(models)
    held_back = set(rng.choice(names, max(1, round(NEW_MODEL_SHARE * len(names))), replace=False))
    days = np.zeros(len(models), dtype=int)
    new = np.isin(models, list(held_back))
    later = max(0.0, (1 - CATALOGUE_SHARE) * len(models) - new.sum())  # photos of catalogued models to hold back
    rest = np.flatnonzero(~new)
    days[rng.choice(rest, min(len(rest), round(later)), replace=False)] = -1
    arriving = np.flatnonzero(new | (days == -1))
    days[arriving] = rng.permutation(np.arange(len(arriving)) % BATCHES) + 1
    return days


def from_scratch(features, days, seed):
    """Stage 04's clusters of the catalogue (day 0) and of every photo up to each batch, by day."""
    return {day: clustering.cluster(features[days <= day], seed=seed).labels for day in range(BATCHES + 1)}


def best_keeping(models, days, first):
    """Clusters of the bound above: day 0 as `first`, then each later photo where its model's best place is."""
    catalogued = days == 0
    clusters = np.full(len(models), -1)
    clusters[catalogued] = first
    places = {model: np.bincount(first[models[catalogued] == model]).argmax()
              for model in np.unique(models[catalogued])}
    places.update({model: first.max() + 1 + number
                   for number, model in enumerate(sorted(set(models) - set(places)))})  # new models
    later = ~catalogued
    clusters[later] = [places[model] for model in models[later]]
    return clusters


def replay(features, models, days, fresh, join_quantile):
    """One row per batch: the incremental catalogue against clustering everything so far (`fresh`)."""
    from sklearn.metrics import adjusted_rand_score
    catalogued = days == 0
    clusters = np.full(len(models), -1)
    clusters[catalogued] = fresh[0]
    thresholds = assign.learn_thresholds(features[catalogued], clusters[catalogued], join_quantile)
    bound, rows = best_keeping(models, days, fresh[0]), []
    for day in range(1, BATCHES + 1):
        before, arriving = clusters.copy(), days == day
        started = time.perf_counter()
        placed = assign.assign(features[catalogued], clusters[catalogued], features[arriving], thresholds)
        seconds = time.perf_counter() - started
        clusters[arriving] = placed.clusters
        catalogued |= arriving
        full = fresh[day]
        earlier = before >= 0
        rows.append({"batch": day, "photos": int(catalogued.sum()), "new_photos": int(arriving.sum()),
                     "ari_incremental": round(adjusted_rand_score(models[catalogued], clusters[catalogued]), 4),
                     "ari_full": round(adjusted_rand_score(models[catalogued], full), 4),
                     "ari_bound": round(adjusted_rand_score(models[catalogued], bound[catalogued]), 4),
                     "k_pred": int(len(np.unique(clusters[catalogued]))), "k_full": int(len(np.unique(full))),
                     "k_true": int(len(np.unique(models[catalogued]))), "seconds": round(seconds, 3),
                     "ids_kept": round(float((clusters[earlier] == before[earlier]).mean()), 4),
                     "joined": int(placed.joined.sum())})
    return {"join_quantile": join_quantile, "thresholds": thresholds.as_dict(), "batches": rows}


def timed_thousand(features, days, seed, clusters):
    """Seconds of the rule for TIMED_PHOTOS new photos (vectors drawn from the set with a little noise)."""
    catalogued = days == 0
    thresholds = assign.learn_thresholds(features[catalogued], clusters)
    rng = np.random.default_rng(seed)
    drawn = features[rng.choice(len(features), TIMED_PHOTOS)] + rng.normal(0, 0.01, (TIMED_PHOTOS, features.shape[1]))
    started = time.perf_counter()
    assign.assign(features[catalogued], clusters, drawn, thresholds)
    return round(time.perf_counter() - started, 3)


def markdown(record):
    lines = ["| protocol | role | join quantile | batch | photos | ARI incremental | ARI re-clustered | "
             "ARI bound | k incremental | k re-clustered | k true | ids kept | seconds |", "|" + "---|" * 13]
    for entry in record["protocols"]:
        for run in entry["runs"]:
            if run["join_quantile"] != assign.JOIN_QUANTILE:
                continue  # the other quantiles are in the JSON record
            for row in run["batches"]:
                lines.append(f"| {entry['protocol']} | {entry['role']} | {run['join_quantile']} | {row['batch']} | "
                             f"{row['photos']} | {row['ari_incremental']:.3f} | {row['ari_full']:.3f} | "
                             f"{row['ari_bound']:.3f} | "
                             f"{row['k_pred']} | {row['k_full']} | {row['k_true']} | {row['ids_kept']:.3f} | "
                             f"{row['seconds']:.3f} |")
    cpu = record["machine"]
    lines += ["", f"1,000 new photos assigned by the rule in {record['seconds_per_1000']:.3f} s (the largest "
              f"catalogue's protocol). Produced at {record['git_commit']} in {record['seconds'] / 60:.0f} minutes "
              f"on {cpu['cpu']}, {cpu['cores']} cores by:", "", "```bash", record["command"], "```"]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    command = "python -m benchmarks.catalogue " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    chosen = [suite.BY_NAME[name] for name in args.protocols.split(",")]
    if args.quick:
        chosen = [protocol for protocol in chosen if not protocol.needs_fmnist]
    started, commit, entries, largest = time.perf_counter(), git_commit(), [], None  # the code that runs
    for protocol in chosen:
        print(f"== {protocol.name} ({protocol.role})", flush=True)
        features, models, seed = test_vectors(protocol, args)
        days = arrival_days(models, seed)
        fresh = from_scratch(features, days, seed)
        entries.append({"protocol": protocol.name, "role": protocol.role, "photos": len(models),
                        "runs": [replay(features, models, days, fresh, quantile) for quantile in args.join_quantiles]})
        if largest is None or len(models) > largest[0]:
            largest = (len(models), features, days, seed, fresh[0])
    record = {"protocols": entries, "seconds_per_1000": timed_thousand(*largest[1:]),
              "seconds": round(time.perf_counter() - started, 1), "git_commit": commit,
              "command": command.strip(), "machine": machine()}
    publish(record, args.results, args.readme, START, END, markdown(record))
    return record


if __name__ == "__main__":
    main()
