"""Speed and memory of the pipeline on generated product photos.

For each number of photos N (--sizes) this times stages 01 (background removal), 03
(features) and 04 (clustering) and the whole pipeline without fine-tuning (stage 02 trains
on the known models, whose number does not grow with N). Each of them runs in a fresh child
process, so the peak resident memory the kernel reports for that child is the stage's own
(the largest single process: stage 01's worker processes are counted apart, not summed).

Stage 03 is also measured per backbone and image size against two yardsticks from the same
run: a naive reference (every photo through Keras' image utilities into a list, then
`model.predict` on the stacked array) and the roofline (the backbone's convolution and dense
FLOPs per photo over the float32 matrix-product speed numpy reaches on this machine). A
serial profile says where stage 03's time goes. Photos come from prodcluster.demo's
generator, about 70 per model as in the 2019 data. Results go to
benchmarks/results/speed.json and a table into benchmarks/README.md.

The parent process only prepares photos, starts children and times stage 01 on one and two
processes; the modules that load TensorFlow are imported in the child that needs them.
"""
import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import config  # noqa: E402
from benchmarks.run_facts import git_commit, machine, replace_block  # noqa: E402
from prodcluster import demo, preprocess, stages  # noqa: E402
from prodcluster.fileio import read_json, write_json  # noqa: E402
from prodcluster.settings import BACKBONES, DEFAULTS, RUNTIMES, Settings  # noqa: E402

RESULTS_FILE = REPO / "benchmarks" / "results" / "speed.json"
README = REPO / "benchmarks" / "README.md"
START, END = "<!-- speed:start -->", "<!-- speed:end -->"
DEFAULT_SIZES = (1000, 2000, 5000, 10000)
DEFAULT_BACKBONES = tuple((name, BACKBONES[name].native_size, runtime) for name, runtime in (
    ("efficientnet_lite0", "tflite"), ("efficientnet_lite0", "keras"), ("efficientnet_lite1", "tflite"),
    ("efficientnet_lite2", "tflite"), ("inception_v3", "tflite")))
PHOTOS_PER_MODEL = 70
STAGES = ("01", "03", "04", "pipeline")
PROFILE_PIECES = ("decode", "resize", "to_float", "network", "write")
MATMUL_REPEATS = 5


# ----- command line -----

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_sizes, default=DEFAULT_SIZES,
                        help="comma-separated numbers of photos (default: 1000,2000,5000,10000)")
    parser.add_argument("--backbones", type=_backbones, default=DEFAULT_BACKBONES,
                        help="comma-separated NAME:SIZE[:RUNTIME] for stage 03 (RUNTIME keras, the default, or "
                             "tflite); the first also runs the stages and the pipeline (default: "
                             + ",".join(":".join(map(str, triple)) for triple in DEFAULT_BACKBONES) + ")")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "prodcluster_speed",
                        help="work folder (default: %(default)s): the generated photos are kept, everything "
                             "under runs/ is redone")
    parser.add_argument("--photos-per-model", type=int, default=PHOTOS_PER_MODEL,
                        help="generated photos per product model (default: %(default)s)")
    parser.add_argument("--profile-photos", type=int, default=256, help="photos in the serial profile of stage 03")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--preprocess", default=DEFAULTS.preprocess, help="stage 01 method")
    parser.add_argument("--workers", type=int, default=DEFAULTS.workers,
                        help="processes of stage 01 in the stage and pipeline runs (default: WORKERS in config.py)")
    parser.add_argument("--matmul-size", type=int, default=4096, help="side of the numpy float32 matrix product")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help="the JSON record")
    parser.add_argument("--readme", type=Path, default=README, help="Markdown file whose speed table is rebuilt")
    parser.add_argument("--job", help=argparse.SUPPRESS)  # a child process's work, as JSON
    args = parser.parse_args(argv)
    if args.job is None:
        _check_args(parser, args)
    return args


def _sizes(text):
    sizes = [_positive(part, "size") for part in text.split(",")]
    if len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"repeated size in {text!r}")
    return tuple(sorted(sizes))


def _backbones(text):
    pairs = []
    for part in text.split(","):
        name, size, runtime = (part.split(":") + ["keras"])[:3] if part.count(":") in (1, 2) else ("", "", "")
        if not name or not size or runtime not in RUNTIMES:
            raise argparse.ArgumentTypeError(f"expected NAME:SIZE or NAME:SIZE:RUNTIME ({', '.join(RUNTIMES)}), "
                                             f"got {part!r}")
        pairs.append((name, _positive(size, "image size"), runtime))
    if len(set(pairs)) != len(pairs):
        raise argparse.ArgumentTypeError(f"repeated backbone in {text!r}")
    return tuple(pairs)


def _positive(text, what):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{what} must be a positive whole number, got {text!r}")
    return value


def _check_args(parser, args):
    for name in ("photos_per_model", "profile_photos", "batch_size", "matmul_size", "workers"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive whole number")


# ----- the parent: photos, children, summary -----

def run(args, command):
    """Measure everything, write the JSON record and the README table; return the record.

    Stage 03 is compared across backbones on the smallest size's photos, right after their
    stage 01; those reference runs also make the weights files that later stages load.
    """
    root = args.root.resolve()
    runs = root / "runs"
    shutil.rmtree(runs, ignore_errors=True)  # stage 01 skips finished photos: every run starts empty
    pool = generated_photos(root, max(args.sizes), args.photos_per_model, args.seed)
    base = {"cache_dir": str(root / "cache"), "batch_size": args.batch_size, "preprocess": args.preprocess,
            "seed": args.seed, "use_finetuned": False, "backbone": args.backbones[0][0],
            "image_size": args.backbones[0][1], "runtime": args.backbones[0][2], "workers": args.workers}
    peaks = [matmul_peak_gflops(args.matmul_size, args.seed)]
    smallest = args.sizes[0]
    stage01 = measured_stage("01", _prepared(runs, pool[:smallest], base), smallest)
    references = {pair: run_child({"kind": "reference", "settings": _stage_settings(runs, base, smallest, pair),
                                   "profile_photos": args.profile_photos, "weights_dir": str(root / "weights")}, runs)
                  for pair in args.backbones}
    base["backbone_weights"] = {pair[0]: entry["weights_file"] for pair, entry in references.items()
                                if entry["weights_file"]}
    stages = {n: measure_size(runs, pool[:n], base, stage01 if n == smallest else None) for n in args.sizes}
    workers = measure_stage01_workers(runs / "workers", pool[:smallest], args.preprocess)
    peaks.append(matmul_peak_gflops(args.matmul_size, args.seed))  # the better of two moments: less noise
    backbones = {_backbone_key(*triple): compare_backbone(references[triple], stage03, max(peaks))
                 for triple, stage03 in stage03_by_backbone(runs, args, base, stages[smallest]["03"])}
    record = summary(args, command, stages, workers, peaks, backbones)
    write_json(args.results, record)
    update_readme(args.readme, markdown(record))
    return record


def _backbone_key(name, size, runtime):
    return f"{name}@{size}" + ("" if runtime == "keras" else f"/{runtime}")


def stage03_by_backbone(runs, args, base, first_stage03):
    """((name, size), stage 03 result) on the smallest size's photos; the first backbone's is already measured."""
    yield args.backbones[0], first_stage03
    for pair in args.backbones[1:]:
        yield pair, measured_stage("03", _stage_settings(runs, base, args.sizes[0], pair), args.sizes[0])


def generated_photos(root, count, photos_per_model, seed):
    """At least `count` demo photos, made once into the work folder (again if a run stopped midway); sorted."""
    folder = root / f"photos_{count}_{photos_per_model}_{seed}"
    options = dict(n_models=math.ceil(count / photos_per_model), photos_per_model=photos_per_model, seed=seed)
    paths = demo.ensure_demo(folder, **options)
    return sorted(paths if len(paths) >= count else demo.make_demo(folder, **options))


def measure_size(runs, photos, overrides, stage01=None):
    """Stages 01 (unless given), 03 and 04 one after another, then the whole pipeline on fresh folders."""
    n = len(photos)
    stage_settings = _stage_settings(runs, overrides, n)
    results = {"01": stage01 or measured_stage("01", _prepared(runs, photos, overrides), n)}
    results.update({stage: measured_stage(stage, stage_settings, n) for stage in ("03", "04")})
    pipeline_settings = {**overrides, "root": str(runs / "pipeline"), "dataset": f"speed_{n}"}
    results["pipeline"] = measured_stage("pipeline", _linked(photos, pipeline_settings), n)
    return results


def _stage_settings(runs, overrides, n, backbone=None):
    """Settings of the stage-by-stage runs on n photos (with another backbone and size if given)."""
    changes = {} if backbone is None else {"backbone": backbone[0], "image_size": backbone[1], "runtime": backbone[2]}
    return {**overrides, **changes, "root": str(runs / "stages"), "dataset": f"speed_{n}"}


def _prepared(runs, photos, overrides):
    """The stage-by-stage settings for these photos, with the photos in place and stage 00 done."""
    settings = _linked(photos, _stage_settings(runs, overrides, len(photos)))
    stages.make_labels(_settings(settings))
    return settings


def _linked(photos, overrides):
    """Hard-link (or copy) the photos into the raw photo folder of these settings."""
    folder = _settings(overrides).raw_img
    folder.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        target = folder / photo.name
        target.unlink(missing_ok=True)
        try:
            os.link(photo, target)
        except OSError:  # another file system, or no hard links there
            shutil.copy2(photo, target)
    return overrides


def measured_stage(stage, overrides, n):
    result = run_child({"kind": "stage", "stage": stage, "settings": overrides}, Path(overrides["root"]))
    result["photos_per_second"] = round(n / result["seconds"], 2)
    print(f"[{n} photos] {stage}: {result['seconds']:.1f} s, {result['photos_per_second']:.1f} photos/s, "
          f"peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    return result


def run_child(job, folder, module="benchmarks.speed"):
    """Run `job` in a fresh `python -m <module> --job ...`; its result with the child's peak RSS in MB."""
    folder.mkdir(parents=True, exist_ok=True)
    result_file = folder / f".job_{time.monotonic_ns()}.json"
    child = subprocess.Popen([sys.executable, "-m", module, "--job",
                              json.dumps({**job, "result": str(result_file)})], cwd=REPO)
    # wait4 reports this child's own peak RSS (with its reaped children's), where
    # getrusage(RUSAGE_CHILDREN) would give the largest of all children so far.
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"the {job['kind']} job {job.get('stage', '')} failed (exit code {child.returncode})")
    result = read_json(result_file)
    result_file.unlink()
    return {**result, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}  # Linux reports kilobytes


def measure_stage01_workers(folder, photos, method):
    """Seconds of stage 01's background removal on the same photos with 1 and with 2 processes."""
    seconds = {}
    for workers in (1, 2):
        start = time.perf_counter()
        preprocess.preprocess_folder(photos[0].parent, folder / f"img_{workers}", [p.name for p in photos],
                                     method=method, workers=workers, max_pixels=DEFAULTS.max_image_pixels)
        seconds[workers] = round(time.perf_counter() - start, 3)
    print(f"01 on {len(photos)} photos: {seconds[1]:.1f} s on 1 process, {seconds[2]:.1f} s on 2", flush=True)
    return seconds


def matmul_peak_gflops(side, seed, repeats=MATMUL_REPEATS):
    """GFLOP/s of the best of `repeats` float32 side x side numpy matrix products (2 side^3 FLOPs each)."""
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal((side, side), dtype=np.float32) for _ in range(2))
    np.matmul(a, b)  # warm-up: threads started, pages touched
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    gflops = 2 * side ** 3 / best / 1e9
    print(f"numpy float32 matrix product {side}x{side}: {gflops:.1f} GFLOP/s", flush=True)
    return round(gflops, 2)


def compare_backbone(reference, stage03, peak):
    """Stage 03 of one backbone against the naive reference and the roofline."""
    n = reference["photos"]
    gflop = 2 * reference["multiply_adds"] / 1e9
    rate = n / stage03["seconds"]
    naive_rate = n / (reference["naive_seconds"]["load"] + reference["naive_seconds"]["predict"])
    roofline = peak / gflop
    entry = {"backbone": reference["backbone"], "image_size": reference["image_size"], "runtime": reference["runtime"],
             "weights": reference["weights"], "photos": n, "gflop_per_photo": round(gflop, 3),
             "roofline_photos_per_second": round(roofline, 2), "stage_seconds_03": stage03["seconds"],
             "peak_rss_mb_03": stage03["peak_rss_mb"], "network_build_seconds": reference["build_seconds"],
             "photos_per_second_03": round(rate, 2), "naive_photos_per_second": round(naive_rate, 2),
             "naive_seconds": reference["naive_seconds"], "roofline_fraction_03": round(rate / roofline, 3),
             "speedup_vs_naive_03": round(rate / naive_rate, 3), "profile_03": reference["profile"]}
    print(f"03 {entry['backbone']} at {entry['image_size']} px ({entry['runtime']}): {rate:.1f} photos/s, "
          f"{entry['roofline_fraction_03']:.0%} of the roofline ({roofline:.1f}), "
          f"{entry['speedup_vs_naive_03']:.2f}x the naive {naive_rate:.1f}", flush=True)
    return entry


def summary(args, command, stages, workers, peaks, backbones):
    smallest, largest = min(args.sizes), max(args.sizes)
    per_photo = {n: stages[n]["pipeline"]["seconds"] / n for n in (smallest, largest)}
    return {
        "command": command, **_run_facts(),
        "sizes": list(args.sizes), "photos_per_model": args.photos_per_model, "preprocess": args.preprocess,
        "batch_size": args.batch_size, "pipeline_backbone": f"{args.backbones[0][0]}@{args.backbones[0][1]}",
        "peak_gflops": max(peaks), "peak_gflops_measured": peaks, "matmul_size": args.matmul_size,
        "stages": {str(n): results for n, results in stages.items()},
        "backbones": backbones,
        "stage01_seconds_by_processes": {str(k): v for k, v in workers.items()},
        # named for the default sizes; they compare the largest size with the smallest
        "speedup_01_2proc": round(workers[1] / workers[2], 3),
        "per_photo_ratio_10k_vs_1k": round(per_photo[largest] / per_photo[smallest], 3),
        "peak_rss_mb_10k": stages[largest]["pipeline"]["peak_rss_mb"],
    }


def _run_facts():
    return {"git_commit": git_commit(), "machine": machine()}


# ----- the table -----

def markdown(record):
    """The speed tables and how they were made, for the README."""
    stage_head = ["photos"] + [f"{stage} {unit}" for stage in STAGES for unit in ("s", "photos/s", "MB")]
    stage_rows = [[n] + [cell for stage in STAGES for cell in _stage_cells(results[stage])]
                  for n, results in record["stages"].items()]
    backbone_head = ["backbone", "px", "runtime", "weights", "GFLOP/photo", "roofline photos/s", "03 photos/s",
                     "of roofline", "naive photos/s", "vs naive", "03 profile (serial)"]
    backbone_rows = [[e["backbone"], e["image_size"], e["runtime"], e["weights"], f"{e['gflop_per_photo']:.2f}",
                      f"{e['roofline_photos_per_second']:.1f}", f"{e['photos_per_second_03']:.1f}",
                      f"{e['roofline_fraction_03']:.0%}", f"{e['naive_photos_per_second']:.1f}",
                      f"{e['speedup_vs_naive_03']:.2f}x", _profile_cell(e["profile_03"])]
                     for e in record["backbones"].values()]
    machine = record["machine"]
    lines = [f"Stages and whole pipeline (no fine-tuning) with {record['pipeline_backbone']}, "
             f"stage 01 `{record['preprocess']}`, {record['photos_per_model']} photos per model; "
             "MB = peak RSS of the stage's largest process:", "",
             *_table(stage_head, stage_rows), "",
             f"Stage 03 per backbone on {next(iter(record['backbones'].values()))['photos']} photos "
             f"(numpy float32 matrix product: {record['peak_gflops']:.0f} GFLOP/s):", "",
             *_table(backbone_head, backbone_rows), "",
             f"- stage 01 on 2 processes: {record['speedup_01_2proc']:.2f}x as fast as on 1",
             f"- pipeline time per photo at {record['sizes'][-1]} / at {record['sizes'][0]} photos: "
             f"{record['per_photo_ratio_10k_vs_1k']:.2f}",
             f"- peak RSS of the pipeline at {record['sizes'][-1]} photos: {record['peak_rss_mb_10k']:.0f} MB", "",
             "Produced by:", "", "```bash", record["command"], "```", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}; "
             f"commit {record['git_commit']}"]
    return "\n".join(lines)


def _stage_cells(result):
    return [f"{result['seconds']:.1f}", f"{result['photos_per_second']:.1f}", f"{result['peak_rss_mb']:.0f}"]


def _profile_cell(profile):
    shares = ", ".join(f"{piece} {profile['share'][piece]:.0%}" for piece in PROFILE_PIECES)
    return f"{shares} of {1000 / profile['photos_per_second_serial']:.1f} ms/photo"


def _table(head, rows):
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)]


def update_readme(readme, table):
    """Replace the text between the speed markers of `readme` with `table`."""
    replace_block(readme, START, END, table)


# ----- the children -----

def run_job(job):
    """Do one child's work and write its result (with "seconds" where it times something)."""
    result = JOBS[job["kind"]](job)
    write_json(job["result"], result)


def _settings(overrides):
    return Settings.from_config(config, **overrides).replace(root=Path(overrides["root"]))


def _stage_job(job):
    from prodcluster import pipeline, stages
    settings = _settings(job["settings"])
    steps = {"01": lambda: stages.preprocess(settings), "03": lambda: stages.extract_features(settings),
             "04": lambda: stages.cluster(settings),
             "pipeline": lambda: pipeline.run_all(settings.replace(use_finetuned=False))}
    start = time.perf_counter()
    outcome = steps[job["stage"]]()
    result = {"seconds": round(time.perf_counter() - start, 3)}
    if job["stage"] == "pipeline":
        result["step_seconds"] = {name: round(value, 3) for name, value in outcome.items()}
    return result


def _weights_file(settings, folder):
    """(file, "imagenet" or "random") for the backbone: config's local ImageNet file, else random weights.

    EfficientNet-Lite0 brings its own ImageNet weights (file None); the first build converts
    them into the cache, which is done here so that no timed build pays for it. InceptionV3 and
    MobileNetV2 get seeded random weights, saved once, unless BACKBONE_WEIGHTS names a file.
    """
    import keras

    from prodcluster.backbones import build_backbone
    from prodcluster.efficientnet_lite import cache_file_name
    name, size = settings.backbone, settings.input_size
    local = Settings.from_config(config).backbone_weights.get(name)
    if BACKBONES[name].offline:
        if not (settings.cache / cache_file_name(name)).is_file():
            build_backbone(name, size, cache_dir=settings.cache)
        return None, "imagenet"
    if local and Path(local).is_file():
        return str(Path(local).resolve()), "imagenet"
    path = Path(folder) / f"{name}_random_seed{settings.seed}.weights.h5"
    if not path.is_file():
        keras.utils.set_random_seed(settings.seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        build_backbone(name, size, pretrained=False).save_weights(path)
    return str(path), "random"


def _reference_job(job):
    """Network build time, the naive reference (first, so it pays the first call as stage 03 does), the profile."""
    from prodcluster.features import feature_network
    from prodcluster.handoff import load_image_list
    settings = _settings(job["settings"])
    weights_file, weights = _weights_file(settings, job["weights_dir"])
    if weights_file:
        settings = settings.replace(backbone_weights={settings.backbone: weights_file})
    paths = [settings.img / name for name in load_image_list(settings) if (settings.img / name).is_file()]
    start = time.perf_counter()
    network, _ = feature_network(settings.replace(runtime="keras"))  # the Keras network: the naive yardstick
    build_seconds = round(time.perf_counter() - start, 3)
    runner, _ = feature_network(settings)  # converted now: stage 03 only runs it
    naive = naive_reference(network, paths, settings.input_size, settings.batch_size)
    scratch = settings.data / "profile_features.npy"
    profile = profile_stage03(runner, paths[:job["profile_photos"]], settings, scratch)
    scratch.unlink()
    return {"backbone": settings.backbone, "image_size": settings.input_size, "runtime": settings.runtime,
            "weights": weights,
            "weights_file": weights_file, "photos": len(paths), "build_seconds": build_seconds,
            "naive_seconds": naive, "profile": profile, "multiply_adds": multiply_adds(network)}


JOBS = {"stage": _stage_job, "reference": _reference_job}


def naive_reference(network, paths, size, batch_size):
    """Seconds to load every photo with Keras' image utilities into a list, and to predict them at once."""
    import keras
    start = time.perf_counter()
    images = [keras.utils.img_to_array(keras.utils.load_img(path, target_size=(size, size))) for path in paths]
    loaded = time.perf_counter()
    network.predict(np.stack(images), batch_size=batch_size, verbose=0)
    return {"load": round(loaded - start, 3), "predict": round(time.perf_counter() - loaded, 3)}


def profile_stage03(network, paths, settings, scratch):
    """Where stage 03's time goes: its pieces run one after another over `paths`, each timed.

    decode: reading and decoding the file; resize: padding to a square and resizing;
    to_float: stacking the batch as float32; network: the backbone; write: L2 normalising
    and writing the rows to a memory-mapped .npy file, as stage 03 does.
    """
    from sklearn.preprocessing import normalize

    from prodcluster.batches import square_resize
    from prodcluster.fileio import read_image
    seconds = dict.fromkeys(PROFILE_PIECES, 0.0)
    output = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float32,
                                       shape=(len(paths), network.output_shape[-1]))
    for start in range(0, len(paths), settings.batch_size):
        chunk = paths[start:start + settings.batch_size]
        with _timed(seconds, "decode"):
            photos = [read_image(path, settings.max_image_pixels) for path in chunk]
        with _timed(seconds, "resize"):
            squares = [square_resize(photo, settings.input_size) for photo in photos]
        with _timed(seconds, "to_float"):
            batch = np.stack(squares).astype(np.float32)
        with _timed(seconds, "network"):
            vectors = np.asarray(network.predict_on_batch(batch), dtype=np.float32)
        with _timed(seconds, "write"):
            output[start:start + len(chunk)] = normalize(vectors)
    with _timed(seconds, "write"):
        output.flush()
    del output
    total = sum(seconds.values())
    return {"photos": len(paths), "seconds": {piece: round(value, 4) for piece, value in seconds.items()},
            "share": {piece: round(value / total, 4) for piece, value in seconds.items()},
            "photos_per_second_serial": round(len(paths) / total, 2)}


@contextmanager
def _timed(seconds, piece):
    start = time.perf_counter()
    yield
    seconds[piece] += time.perf_counter() - start


def multiply_adds(model):
    """Multiply-adds per photo of a Keras model's convolution and dense layers.

    Each kernel weight is used once per output position: the kernel's size times the output's
    spatial size. Batch normalisation, activations, pooling and additions are left out (they
    are a small share of the FLOPs, as in the published counts).
    """
    total = 0
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None:
            positions = math.prod(layer.output.shape[1:-1])
            total += math.prod(kernel.shape) * positions
    return int(total)


def main(argv=None):
    args = parse_args(argv)
    if args.job is not None:
        run_job(json.loads(args.job))
        return
    command = "python -m benchmarks.speed " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    run(args, command.strip())


if __name__ == "__main__":
    main()
