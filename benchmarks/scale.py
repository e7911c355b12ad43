"""Past one machine: what the Ray engine costs, and how stage 04 grows with the number of photos.

engines: stages 01 and 03 (the plain backbone) on the same generated photos (default 2,000),
once on the local engine and once with ENGINE = "ray" (a private Ray on this machine, or the
cluster at --ray-address). Ray's start-up is timed apart from the stages; the outputs of the
two engines are compared (photos byte for byte, features to the largest difference).

stage 04: the default clustering on synthetic feature vectors from one generator at each size
(default 10k, 30k, 100k; 1,280 dimensions; 200 groups whose sizes fall off as 1 / rank, so a
few groups are large and most are small, like listings). --million adds 1M vectors of 256
dimensions, as after PCA. Time per vector, peak memory and ARI against the generator's groups.

Every measurement runs in a fresh child process, so its peak memory is its own. Results go to
benchmarks/results/scale.json and a table into benchmarks/README.md.
"""
import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.run_facts import git_commit, machine, replace_block  # noqa: E402
from benchmarks.speed import _linked, _settings, generated_photos, run_child  # noqa: E402
from prodcluster import stages  # noqa: E402
from prodcluster.fileio import write_json  # noqa: E402
from prodcluster.settings import DEFAULTS  # noqa: E402

RESULTS_FILE = REPO / "benchmarks" / "results" / "scale.json"
README = REPO / "benchmarks" / "README.md"
START, END = "<!-- scale:start -->", "<!-- scale:end -->"
DEFAULT_SIZES = (10_000, 30_000, 100_000)
MILLION = 1_000_000
GROUPS = 200
DIMENSIONS = 1280
REDUCED_DIMENSIONS = 256  # the million vectors stand for features after PCA
MODULE = "benchmarks.scale"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=2000, help="photos of the engine comparison")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="comma-separated numbers of vectors for stage 04 (default: %(default)s)")
    parser.add_argument("--million", action="store_true", help=f"also stage 04 on 1M vectors of "
                                                               f"{REDUCED_DIMENSIONS} dimensions")
    parser.add_argument("--ray-address", help="Ray cluster to measure (default: a private Ray on this machine)")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "prodcluster_scale",
                        help="work folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help="the JSON record")
    parser.add_argument("--readme", type=Path, default=README, help="Markdown file whose scale table is rebuilt")
    parser.add_argument("--job", help=argparse.SUPPRESS)  # a child process's work, as JSON
    args = parser.parse_args(argv)
    args.sizes = sorted({int(size) for size in args.sizes.split(",")} | ({MILLION} if args.million else set()))
    if args.photos < 2 or min(args.sizes) < GROUPS:
        parser.error(f"--photos must be at least 2 and every size at least {GROUPS}")
    return args


# ----- the parent -----

def run(args, command):
    root = args.root.resolve()
    shutil.rmtree(root / "runs", ignore_errors=True)
    engines = compare_engines(root, args)
    stage04 = {size: run_child({"kind": "stage04", "size": size, "seed": args.seed}, root / "runs", MODULE)
               for size in args.sizes}
    for size, result in stage04.items():
        print(f"04 on {size} vectors: {result['seconds']:.1f} s ({result['seconds'] / size * 1e3:.2f} ms per vector), "
              f"peak RSS {result['peak_rss_mb']:.0f} MB, k {result['k']} for {GROUPS}, ARI {result['ari']:.4f}",
              flush=True)
    record = summary(args, command, engines, stage04)
    write_json(args.results, record)
    replace_block(args.readme, START, END, markdown(record))
    return record


def compare_engines(root, args):
    """Stages 01 and 03 on each engine, from the same photos into separate folders; the outputs compared."""
    photos = generated_photos(root, args.photos, 70, args.seed)[:args.photos]
    results, settings = {}, {}
    for engine in ("local", "ray"):
        overrides = {"root": str(root / "runs" / engine), "dataset": "scale", "use_finetuned": False,
                     "seed": args.seed, "engine": engine, "ray_address": args.ray_address,
                     "cache_dir": str(root / "cache")}
        settings[engine] = _settings(_linked(photos, overrides))
        stages.make_labels(settings[engine])
        results[engine] = run_child({"kind": "engine", "settings": overrides}, root / "runs", MODULE)
        print(f"{engine}: 01 {results[engine]['seconds_01']:.1f} s, 03 {results[engine]['seconds_03']:.1f} s"
              + (f", Ray ready in {results[engine]['startup_seconds']:.1f} s" if engine == "ray" else ""), flush=True)
    results["same_photos"], results["max_feature_difference"] = _compare_outputs(settings["local"], settings["ray"])
    return results


def _compare_outputs(local, ray):
    names = sorted(path.name for path in local.img.iterdir())
    same = names == sorted(path.name for path in ray.img.iterdir()) and all(
        (local.img / name).read_bytes() == (ray.img / name).read_bytes() for name in names)
    difference = np.abs(np.load(local.path("features")) - np.load(ray.path("features"))).max()
    return same, float(difference)


def summary(args, command, engines, stage04):
    local, ray = engines["local"], engines["ray"]
    per_photo = {name: (run["seconds_01"] + run["seconds_03"]) / args.photos for name, run in (("local", local),
                                                                                                 ("ray", ray))}
    per_vector = {size: result["seconds"] / size for size, result in stage04.items()}
    return {
        "command": command, "git_commit": git_commit(), "machine": machine(), "photos": args.photos,
        "engines": engines, "engine_overhead_ratio_2k": round(per_photo["ray"] / per_photo["local"], 3),
        "ray_startup_seconds": ray["startup_seconds"], "ray_nodes_tested": ray["nodes"],
        "stage04_seconds": {str(size): result["seconds"] for size, result in stage04.items()},
        "stage04_peak_rss_mb": {str(size): result["peak_rss_mb"] for size, result in stage04.items()},
        "stage04_ari": {str(size): result["ari"] for size, result in stage04.items()},
        "stage04_k": {str(size): result["k"] for size, result in stage04.items()},
        "stage04_per_point_ratio_100k_vs_10k": (round(per_vector[100_000] / per_vector[10_000], 3)
                                                if {10_000, 100_000} <= set(per_vector) else None),
    }


def markdown(record):
    local, ray = record["engines"]["local"], record["engines"]["ray"]
    lines = [f"Stages 01 and 03 on {record['photos']} generated photos (plain backbone), each engine in a fresh "
             "process:", "", "| engine | 01 s | 03 s | start-up s | nodes |", "|---|---|---|---|---|",
             f"| local | {local['seconds_01']:.1f} | {local['seconds_03']:.1f} | - | 1 |",
             f"| ray | {ray['seconds_01']:.1f} | {ray['seconds_03']:.1f} | {ray['startup_seconds']:.1f} | "
             f"{ray['nodes']} |", "",
             f"- Ray time per photo / local (start-up apart): {record['engine_overhead_ratio_2k']:.2f}; photos from "
             f"01 identical: {record['engines']['same_photos']}; largest feature difference: "
             f"{record['engines']['max_feature_difference']:.1e}", "",
             f"Stage 04 (default clustering) on synthetic vectors, {GROUPS} groups of uneven size:", "",
             "| vectors | s | ms per vector | peak MB | k | ARI |", "|---|---|---|---|---|---|"]
    for size, seconds in record["stage04_seconds"].items():
        lines.append(f"| {int(size):,} | {seconds:.1f} | {seconds / int(size) * 1e3:.2f} | "
                     f"{record['stage04_peak_rss_mb'][size]:.0f} | {record['stage04_k'][size]} | "
                     f"{record['stage04_ari'][size]:.4f} |")
    lines += ["", f"- time per vector at 100k / at 10k: {record['stage04_per_point_ratio_100k_vs_10k']}",
              f"- `{record['command']}` at {record['git_commit']} on {record['machine']['cpu']} "
              f"({record['machine']['cores']} cores)"]
    return "\n".join(lines)


# ----- the children -----

def _engine_job(job):
    """Stages 01 (forced) and 03 on one engine; Ray's start-up timed apart, the stages joining its session."""
    from prodcluster import engine
    settings = _settings(job["settings"])
    start = time.perf_counter()
    with engine.opened(settings) as runner:
        startup = time.perf_counter() - start
        seconds = {}
        for stage, work in (("01", lambda: stages.preprocess(settings, force=True)),
                            ("03", lambda: stages.extract_features(settings))):
            start = time.perf_counter()
            work()
            seconds[stage] = round(time.perf_counter() - start, 3)
        nodes = len([node for node in runner.ray.nodes() if node["Alive"]]) if settings.engine == "ray" else 1
    return {"seconds_01": seconds["01"], "seconds_03": seconds["03"], "startup_seconds": round(startup, 3),
            "nodes": nodes}


def grouped_vectors(size, seed, dimensions=DIMENSIONS, groups=GROUPS):
    """(unit vectors, group of each): a shared direction, a centre per group and noise; group shares 1 / rank."""
    rng = np.random.default_rng(seed)
    shares = 1.0 / np.arange(1, groups + 1)
    labels = rng.choice(groups, size=size, p=rng.permutation(shares / shares.sum()))
    scale = np.float32(1 / np.sqrt(dimensions))
    centres = rng.standard_normal((groups, dimensions), dtype=np.float32) * scale
    shared = rng.standard_normal(dimensions, dtype=np.float32) * scale
    vectors = rng.standard_normal((size, dimensions), dtype=np.float32) * (scale * np.float32(0.8))
    vectors += centres[labels] + shared
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, labels


def _stage04_job(job):
    from sklearn.metrics import adjusted_rand_score

    from prodcluster import clustering
    dimensions = REDUCED_DIMENSIONS if job["size"] >= MILLION else DIMENSIONS
    vectors, groups = grouped_vectors(job["size"], job["seed"], dimensions)
    start = time.perf_counter()
    result = clustering.cluster(vectors, method=DEFAULTS.cluster_method, seed=DEFAULTS.seed,
                                **stages.cluster_options(DEFAULTS))
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "k": result.k, "ari": round(adjusted_rand_score(groups, result.labels), 4),
            "dimensions": dimensions}


JOBS = {"engine": _engine_job, "stage04": _stage04_job}


def main(argv=None):
    args = parse_args(argv)
    if args.job is not None:
        job = json.loads(args.job)
        write_json(job["result"], JOBS[job["kind"]](job))
        return
    command = "python -m benchmarks.scale " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    run(args, command.strip())


if __name__ == "__main__":
    main()
