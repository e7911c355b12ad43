"""Fashion-MNIST photo sets in the pipeline's folder layout, for benchmarking.

Fashion-MNIST gives 70,000 labelled 28x28 product photos, so the pipeline can be scored
on public data. Three regimes are written under `raw_img/`:

- `fmnist_known` / `fmnist_test`: class-level grouping. The model id is the class
  (`C07`); training photos of the known classes fine-tune the network, the whole test
  split (all 10 classes) is clustered.
- `fmnist_instances_known` / `fmnist_instances_test`: many small groups, closer to the
  original task. Each model (`I0001`) is one Fashion-MNIST item rendered several times
  the way sellers vary a photo; known and test sets hold different models.

Every photo is `MODELID_PRODUCTID_IMAGEID.png`, dark on a light background like a shop
photo, and each photo counts as its own product listing. A set whose folder already
holds exactly the expected files is left alone; the names follow the choice of photos,
not how they are drawn, so after changing only `image_size` pass `--overwrite`.

Run `python -m benchmarks.fmnist_data --help`.
"""
import argparse
import functools
import gzip
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from prodcluster.fileio import save_image
from prodcluster.settings import DEFAULTS

DEFAULT_SOURCE = "/usr/share/datasets/fashion-mnist"
REPO_ROOT = Path(__file__).resolve().parents[1]

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
N_CLASSES = len(CLASS_NAMES)
SIDE = 28
SPLIT_PREFIXES = {"train": "train", "test": "t10k"}

KNOWN_SET = "fmnist_known"
TEST_SET = "fmnist_test"
INSTANCES_KNOWN_SET = "fmnist_instances_known"
INSTANCES_TEST_SET = "fmnist_instances_test"
DEFAULT_KNOWN_CLASSES = tuple(range(7))
DEFAULT_PER_CLASS = 600

IDX_UBYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"

# Seller-style variation of one instance photo (fractions of the output side, degrees).
INSTANCE_SIZE = 64
FILL_RANGE = (0.70, 0.95)  # item width over photo width
MAX_SHIFT = 0.06
MAX_ROTATION = 10.0
CONTRAST_RANGE = (0.75, 1.30)
BACKGROUND_RANGE = (210.0, 255.0)  # light grey to white
MAX_INK = 110.0  # darkest object colour per channel: a dark, tinted shade


@dataclass(frozen=True)
class PhotoSet:
    """What one writer call left on disk."""

    folder: Path
    count: int
    written: bool  # False when the folder was already up to date




def load_split(source=DEFAULT_SOURCE, split="train"):
    """Return (images uint8 N x 28 x 28, labels uint8 N) of one Fashion-MNIST split.

    `source` holds the four original idx files, gzipped or not. The arrays are
    read-only because repeated loads of the same split share them.
    """
    if split not in SPLIT_PREFIXES:
        raise ValueError(f"split must be one of {sorted(SPLIT_PREFIXES)}, got {split!r}")
    return _load_split_cached(str(Path(source).resolve()), split)


@functools.lru_cache(maxsize=2)
def _load_split_cached(source, split):
    prefix = SPLIT_PREFIXES[split]
    images_path = _find_idx_file(source, f"{prefix}-images-idx3-ubyte")
    labels_path = _find_idx_file(source, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"{images_path}: expected N x {SIDE} x {SIDE} images, found shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{labels_path}: expected {len(images)} labels, found shape {labels.shape}")
    if labels.size and labels.max() >= N_CLASSES:
        raise ValueError(f"{labels_path}: label {labels.max()} outside 0..{N_CLASSES - 1}")
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _find_idx_file(source, name):
    for candidate in (Path(source) / name, Path(source) / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{Path(source) / name} (or .gz) is missing. Install Fashion-MNIST with "
        f"`apt-get install dataset-fashion-mnist`, or pass --source FOLDER holding "
        f"train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
        f"t10k-labels-idx1-ubyte (each may end in .gz)."
    )


def read_idx(path):
    """Parse an unsigned-byte idx file (gzipped or not) into a numpy array."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == GZIP_MAGIC:
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise ValueError(f"{path}: not an idx file (bad magic number {data[:4].hex()})")
    if data[2] != IDX_UBYTE:
        raise ValueError(f"{path}: idx data type 0x{data[2]:02x} is not unsigned byte (0x08)")
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(data) < header_size:
        raise ValueError(f"{path}: idx header is truncated or declares {ndim} dimensions")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header_size + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"{path}: header declares shape {shape} ({expected} bytes) but the file has {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape).copy()




def photo_name(model_id, product_id, image_id=0):
    return f"{model_id}_{product_id}_{image_id}.png"


def write_plain(images, labels, folder, indices, image_size=None, split="train", overwrite=False):
    """Write the photos at `indices` inverted to dark-on-white 3-channel PNGs.

    Names are `C<class>_<split><index>_0.png`; `image_size` (pixels per side)
    upscales, None keeps 28 x 28.
    """
    images, labels, indices = _check_plain_inputs(images, labels, indices)
    _check_image_size(image_size, minimum=8, allow_none=True)
    names = [photo_name(class_model_id(labels[i]), f"{split}{i:05d}") for i in indices]

    def render(position):
        grey = 255 - images[indices[position]]
        if image_size is not None:
            grey = cv2.resize(grey, (image_size, image_size), interpolation=cv2.INTER_CUBIC)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)

    return _write_set(folder, names, render, overwrite)


def class_model_id(label):
    return f"C{int(label):02d}"


def instance_model_id(number):
    return f"I{number:04d}"


def _check_plain_inputs(images, labels, indices):
    images = np.asarray(images)
    labels = np.asarray(labels)
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"images must be uint8 N x {SIDE} x {SIDE}, got {images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {labels.shape}")
    if indices.size == 0:
        raise ValueError("indices is empty: nothing to write")
    if indices.min() < 0 or indices.max() >= len(images):
        raise ValueError(f"indices must lie in 0..{len(images) - 1}")
    if len(np.unique(indices)) != len(indices):
        raise ValueError("indices repeat: every photo must be written once")
    return images, labels, indices


def _check_image_size(image_size, minimum, allow_none=False):
    if image_size is None and allow_none:
        return
    if not isinstance(image_size, (int, np.integer)) or image_size < minimum:
        raise ValueError(f"image_size must be an integer of at least {minimum}, got {image_size!r}")


def _write_set(folder, names, render, overwrite):
    """Write `render(i)` as `names[i]` unless the folder already holds exactly `names`."""
    folder = Path(folder)
    present = _photo_files(folder)
    expected = set(names)
    if present == expected and not overwrite:
        return PhotoSet(folder, len(names), written=False)
    stale = sorted(present - expected)
    if stale and not overwrite:
        raise ValueError(
            f"{folder} holds {len(stale)} photos this set does not include (e.g. {stale[0]}), "
            f"left by a run with other settings. Delete the folder or pass overwrite=True (--overwrite)."
        )
    for name in stale:
        (folder / name).unlink()
    for position, name in enumerate(names):
        save_image(folder / name, render(position))
    return PhotoSet(folder, len(names), written=True)


def _photo_files(folder):
    if not folder.is_dir():
        return set()
    return {
        p.name for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in DEFAULTS.img_ext
    }


def raw_folder(root, set_name):
    return Path(root) / DEFAULTS.raw_img_dir.format(dataset=set_name)




def make_known(source=DEFAULT_SOURCE, root=REPO_ROOT, per_class=DEFAULT_PER_CLASS,
               known=DEFAULT_KNOWN_CLASSES, seed=DEFAULTS.seed, overwrite=False):
    """Write `per_class` seeded training photos of each known class to raw_img/fmnist_known."""
    known = _check_classes(known)
    images, labels = load_split(source, "train")
    rng = np.random.default_rng(seed)
    chosen = [_choose_from_class(labels, label, per_class, rng) for label in known]
    indices = np.sort(np.concatenate(chosen))
    return write_plain(images, labels, raw_folder(root, KNOWN_SET), indices, split="train", overwrite=overwrite)


def make_test(source=DEFAULT_SOURCE, root=REPO_ROOT, overwrite=False):
    """Write the whole test split (all classes) to raw_img/fmnist_test."""
    images, labels = load_split(source, "test")
    return write_plain(images, labels, raw_folder(root, TEST_SET), np.arange(len(images)),
                       split="test", overwrite=overwrite)


def _check_classes(classes):
    classes = sorted(int(c) for c in classes)
    if not classes or len(set(classes)) != len(classes) or not all(0 <= c < N_CLASSES for c in classes):
        raise ValueError(f"known classes must be distinct values in 0..{N_CLASSES - 1}, got {classes}")
    return classes


def _choose_from_class(labels, label, count, rng):
    members = np.flatnonzero(labels == label)
    if not isinstance(count, (int, np.integer)) or not 1 <= count <= len(members):
        raise ValueError(f"per_class must be an integer in 1..{len(members)} for class {label}, got {count!r}")
    return rng.choice(members, size=count, replace=False)




def make_instances(source=DEFAULT_SOURCE, root=REPO_ROOT, n_models=150, photos_per_model=10,
                   known_fraction=0.5, seed=DEFAULTS.seed, image_size=INSTANCE_SIZE, overwrite=False):
    """Write instance-level sets: each model is one training item rendered several ways.

    Models are distinct items spread evenly over the 10 classes; a seeded share
    `known_fraction` of them goes to raw_img/fmnist_instances_known, the rest to
    raw_img/fmnist_instances_test, so no test model is ever seen in training.
    Returns (known PhotoSet, test PhotoSet).
    """
    _check_instance_settings(n_models, photos_per_model, known_fraction, image_size)
    images, labels = load_split(source, "train")
    rng = np.random.default_rng(seed)
    items = rng.permutation(_choose_distinct_items(images, labels, n_models, rng))
    n_known = int(round(n_models * known_fraction))
    if not 1 <= n_known < n_models:
        raise ValueError(f"known_fraction {known_fraction} of {n_models} models leaves one set empty")
    models = [(instance_model_id(number), item) for number, item in enumerate(items, start=1)]
    split = rng.permutation(n_models)
    known_models = [models[i] for i in np.sort(split[:n_known])]
    test_models = [models[i] for i in np.sort(split[n_known:])]
    settings = (images, photos_per_model, seed, image_size, overwrite)
    return (_write_instances(raw_folder(root, INSTANCES_KNOWN_SET), known_models, *settings),
            _write_instances(raw_folder(root, INSTANCES_TEST_SET), test_models, *settings))


def _check_instance_settings(n_models, photos_per_model, known_fraction, image_size):
    if not isinstance(n_models, (int, np.integer)) or n_models < 2:
        raise ValueError(f"n_models must be an integer of at least 2, got {n_models!r}")
    if not isinstance(photos_per_model, (int, np.integer)) or not 1 <= photos_per_model <= 99:
        raise ValueError(f"photos_per_model must be an integer in 1..99, got {photos_per_model!r}")
    if not 0 < known_fraction < 1:
        raise ValueError(f"known_fraction must lie strictly between 0 and 1, got {known_fraction!r}")
    _check_image_size(image_size, minimum=SIDE)


def _choose_distinct_items(images, labels, n_models, rng):
    """Pick n_models items, as even a share of each class as possible, no two identical."""
    quotas = np.full(N_CLASSES, n_models // N_CLASSES)
    quotas[rng.choice(N_CLASSES, size=n_models % N_CLASSES, replace=False)] += 1
    seen = set()
    chosen = []
    for label, quota in enumerate(quotas):
        picked = 0
        for index in rng.permutation(np.flatnonzero(labels == label)):
            if picked == quota:
                break
            pixels = images[index].tobytes()
            if pixels not in seen:
                seen.add(pixels)
                chosen.append(index)
                picked += 1
        if picked < quota:
            raise ValueError(f"class {label} has only {picked} distinct items; {quota} needed for {n_models} models")
    return np.array(chosen, dtype=np.int64)


def _write_instances(folder, models, images, photos_per_model, seed, image_size, overwrite):
    # The product id names the source item, so other settings give other names.
    photos = [(model_id, item, render)
              for model_id, item in models for render in range(photos_per_model)]
    names = [photo_name(model_id, f"train{item:05d}r{render:02d}") for model_id, item, render in photos]

    def render_photo(position):
        _, item, render = photos[position]
        rng = np.random.default_rng([seed, int(item), render])
        return render_instance(images[item], rng, image_size)

    return _write_set(folder, names, render_photo, overwrite)


def render_instance(item, rng, size=INSTANCE_SIZE):
    """One seller-style RGB photo of a 28x28 item: scaled, shifted, rotated, re-toned and tinted."""
    strength = item.astype(np.float32) / 255.0  # 0 = background, 1 = brightest part of the item
    scale = rng.uniform(*FILL_RANGE) * size / SIDE
    angle = rng.uniform(-MAX_ROTATION, MAX_ROTATION)
    shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, size=2) * size
    source_centre = (SIDE - 1) / 2
    matrix = cv2.getRotationMatrix2D((source_centre, source_centre), angle, scale)
    matrix[:, 2] += (size - 1) / 2 - source_centre + shift
    warped = cv2.warpAffine(strength, matrix, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    strength = np.clip(warped * rng.uniform(*CONTRAST_RANGE), 0.0, 1.0)[..., None]
    background = rng.uniform(*BACKGROUND_RANGE)
    ink = rng.uniform(0.0, MAX_INK, size=3)
    return np.round(background * (1.0 - strength) + ink * strength).astype(np.uint8)



SET_CHOICES = ("known", "test", "instances")


def main(argv=None):
    args = _parser().parse_args(argv)
    writers = {
        "known": lambda: [make_known(args.source, args.root, args.per_class, args.known_classes,
                                     args.seed, args.overwrite)],
        "test": lambda: [make_test(args.source, args.root, args.overwrite)],
        "instances": lambda: list(make_instances(args.source, args.root, args.n_models, args.photos_per_model,
                                                 args.known_fraction, args.seed, args.image_size,
                                                 args.overwrite)),
    }
    return write_chosen(writers, args.sets)


def write_chosen(writers, choices):
    """Call each chosen set's writer once (it returns a list of results), saying what each wrote; the exit
    status: 1 where the source is missing or bad, else 0."""
    try:
        for choice in dict.fromkeys(choices):
            started = time.perf_counter()
            for result in writers[choice]():
                state = "written" if result.written else "already up to date"
                print(f"{result.folder}: {result.count} photos, {state}")
            print(f"{choice}: {time.perf_counter() - started:.1f} s")
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _parser():
    parser = set_writer_parser("python -m benchmarks.fmnist_data",
                               "Write Fashion-MNIST photo sets under ROOT/raw_img/ in the pipeline's naming.",
                               SET_CHOICES, "which sets to write: known = fmnist_known, test = fmnist_test, "
                                            "instances = fmnist_instances_known and _test (default: all)")
    parser.add_argument("--n-models", type=int, default=150, help="instance models (default: %(default)s)")
    parser.add_argument("--photos-per-model", type=int, default=10,
                        help="renders per instance model (default: %(default)s)")
    parser.add_argument("--known-fraction", type=float, default=0.5,
                        help="share of instance models in the known set (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=INSTANCE_SIZE,
                        help="side of instance photos in pixels (default: %(default)s)")
    return parser


def set_writer_parser(prog, description, sets, sets_help):
    """The options of every Fashion-MNIST set writer (fmnist_data, scenes); each adds its own."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--source", default=DEFAULT_SOURCE,
                        help="folder with the four Fashion-MNIST idx files, gzipped or not (default: %(default)s)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="project root (default: %(default)s)")
    parser.add_argument("--sets", nargs="+", choices=sets, default=list(sets), help=sets_help)
    parser.add_argument("--per-class", type=int, default=DEFAULT_PER_CLASS,
                        help="training photos per known class (default: %(default)s)")
    parser.add_argument("--known-classes", type=int, nargs="+", default=list(DEFAULT_KNOWN_CLASSES),
                        help="classes in the known set (default: 0 to 6)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="random seed (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="rewrite every photo and delete photos the set does not include")
    return parser


if __name__ == "__main__":
    sys.exit(main())
