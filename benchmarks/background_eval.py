"""Score stage 01's background removal methods against true foreground masks.

For each method: the mean and 10th-percentile IoU of its masks with the true masks, the
seconds per photo on one core, and how often each outcome occurred (`removed`, `plain`,
`implausible`, `unchanged`). Photos come from

- `scene`: Fashion-MNIST test items on real photos (benchmarks/scenes.py), drawn in memory:
  the first `--count` items of the same seeded subset and renders `make_scene_test` writes;
- `demo`: the demo set (prodcluster/demo.py), written with its masks to a temporary folder;
- `--photos DIR --true-masks DIR`: any folder of photos with `<stem>.png` masks (white = product).

`folder_mask_scores` scores masks saved by stage 01 (with SAVE_MASKS on),
giving a benchmark record its `mask_iou_mean` and `mask_iou_p10`.

Run `python -m benchmarks.background_eval --help`.
"""
import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import fmnist_data, scenes  # noqa: E402
from prodcluster import background  # noqa: E402
from prodcluster.demo import make_demo  # noqa: E402
from prodcluster.fileio import read_image, write_json  # noqa: E402
from prodcluster.settings import DEFAULTS  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "background"
DEFAULT_SCENE_COUNT = 1000
LOW_PERCENTILE = 10


def mask_iou(predicted, true):
    """Intersection over union of two bool masks of one shape (1.0 when both are empty)."""
    predicted, true = np.asarray(predicted, dtype=bool), np.asarray(true, dtype=bool)
    if predicted.shape != true.shape:
        raise ValueError(f"mask shapes differ: {predicted.shape} and {true.shape}")
    union = np.logical_or(predicted, true).sum()
    return float(np.logical_and(predicted, true).sum() / union) if union else 1.0


def iou_summary(ious):
    """{"mask_iou_mean", "mask_iou_p10"} of a list of IoUs."""
    ious = np.asarray(ious, dtype=float)
    if ious.size == 0:
        raise ValueError("no IoUs to summarise")
    return {"mask_iou_mean": round(float(ious.mean()), 4),
            "mask_iou_p10": round(float(np.percentile(ious, LOW_PERCENTILE)), 4)}


def score_method(samples, method):
    """Run `method` on (name, rgb, true mask) samples; IoU summary, seconds per photo and outcomes."""
    ious, outcomes, seconds = [], Counter(), 0.0
    for _, rgb, true in samples:
        started = time.perf_counter()
        removal = background.remove_background(rgb, method)
        seconds += time.perf_counter() - started
        ious.append(mask_iou(removal.mask, true))
        outcomes[removal.outcome] += 1
    return {"method": method, "n_photos": len(ious), **iou_summary(ious),
            "seconds_per_photo_01": round(seconds / len(ious), 5),
            "outcomes": {outcome: outcomes[outcome] for outcome in background.OUTCOMES}}


def folder_mask_scores(mask_dir, true_mask_dir, names):
    """IoU summary of the masks stage 01 saved in `mask_dir` against the true ones, over `names`."""
    ious = [mask_iou(read_mask(Path(mask_dir) / f"{Path(name).stem}.png"),
                     read_mask(Path(true_mask_dir) / f"{Path(name).stem}.png")) for name in names]
    return iou_summary(ious)


def read_mask(path):
    return read_image(path)[..., 0] > 127


def scene_samples(count=DEFAULT_SCENE_COUNT, source=fmnist_data.DEFAULT_SOURCE, seed=DEFAULTS.seed,
                  size=scenes.SCENE_SIZE):
    """Yield (name, rgb, true mask) of the photos `scenes.make_scene_test(count=count)` writes, drawn in memory."""
    images, labels = fmnist_data.load_split(source, "test")
    for index in scenes.test_indices(len(images), count, seed):
        rgb, mask = scenes.render_scene(images[index], scenes.item_rng(seed, "test", index), size)
        yield fmnist_data.photo_name(fmnist_data.class_model_id(labels[index]), f"test{index:05d}"), rgb, mask


def folder_samples(photo_dir, true_mask_dir):
    """(name, rgb, true mask) for every photo in `photo_dir` that has a mask in `true_mask_dir`."""
    photos = sorted(path for path in Path(photo_dir).iterdir() if path.suffix.lower() in DEFAULTS.img_ext)
    pairs = [(path, Path(true_mask_dir) / f"{path.stem}.png") for path in photos]
    samples = [(path.name, read_image(path), read_mask(mask)) for path, mask in pairs if mask.is_file()]
    if not samples:
        raise FileNotFoundError(f"no photo in {photo_dir} has a mask in {true_mask_dir}")
    return samples


def demo_samples():
    with tempfile.TemporaryDirectory() as folder:
        make_demo(Path(folder) / "photos", mask_folder=Path(folder) / "masks")
        return folder_samples(Path(folder) / "photos", Path(folder) / "masks")


def main(argv=None):
    args = _parse_args(argv)
    cv2.setNumThreads(1)  # seconds per photo on one core, as in stage 01's worker processes
    if args.photos:
        data, kept = args.photos.name, folder_samples(args.photos, args.true_masks)
    elif args.data == "demo":
        data, kept = "demo", demo_samples()
    else:
        data, kept = scenes.SCENE_TEST_SET, None  # drawn again for each method: all of them may not fit in memory
    rows = [score_method(kept if kept is not None else scene_samples(args.count, args.source, args.seed), method)
            for method in args.methods]
    for row in rows:
        print(f"{data:>18} {row['method']:>14}: IoU mean {row['mask_iou_mean']:.3f}  p10 {row['mask_iou_p10']:.3f}  "
              f"{row['seconds_per_photo_01'] * 1000:.1f} ms/photo  {row['outcomes']}")
    write_json(args.results / f"{data}.json", {"data": data, "n_photos": rows[0]["n_photos"], "methods": rows,
                                                "command": "python -m benchmarks.background_eval " + " ".join(
                                                    argv if argv is not None else sys.argv[1:])})
    return 0


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.background_eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("scene", "demo"), default="scene", help="photos to score on")
    parser.add_argument("--photos", type=Path, help="score on this folder instead (needs --true-masks)")
    parser.add_argument("--true-masks", type=Path, help="folder of true masks <stem>.png for --photos")
    parser.add_argument("--count", type=int, default=DEFAULT_SCENE_COUNT,
                        help="scene photos (a seeded subset of the test split; default: %(default)s)")
    parser.add_argument("--methods", nargs="+", choices=background.METHODS, default=list(background.METHODS))
    parser.add_argument("--source", default=fmnist_data.DEFAULT_SOURCE, help="Fashion-MNIST idx folder")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="scene seed (default: %(default)s)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where <data>.json goes")
    args = parser.parse_args(argv)
    if (args.photos is None) != (args.true_masks is None):
        parser.error("--photos and --true-masks go together")
    return args


if __name__ == "__main__":
    sys.exit(main())
