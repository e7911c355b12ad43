"""Fashion-MNIST items pasted onto real photos, with their true masks: a background-removal benchmark.

The plain Fashion-MNIST sets are dark items on white, where background removal has nothing
to do. Here each item is colourised and pasted at a random scale and position onto a crop
of a real photo (the colour and grey photos that ship inside scikit-image and
scikit-learn, so nothing is downloaded), and its true foreground mask is saved beside the
data set, so stage 01 can be scored by mask IoU as well as by clustering.

The sets mirror the plain protocol: `fmnist_scene_known` holds `per_class` training photos
of the known classes (the same photos `fmnist_known` chooses for the same seed) for
fine-tuning, `fmnist_scene_test` the whole test split or a seeded subset of it. Names
follow MODELID_PRODUCTID_IMAGEID (`C07_test01234_0.png`, model id = class) and masks are
`data/<set>/true_masks/<stem>.png` (0/255). Every photo is drawn from its own seeded
generator, so a subset holds exactly the photos of the whole set. A set whose folders
already hold exactly the expected files is left alone; after changing only `size` or
`seed` pass `--overwrite`.

Run `python -m benchmarks.scenes --help`.
"""
import functools
import sys
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from skimage.morphology import remove_small_holes
from sklearn.datasets import load_sample_images

from benchmarks import fmnist_data
from benchmarks.fmnist_data import DEFAULT_SOURCE, REPO_ROOT
from prodcluster.fileio import save_image
from prodcluster.settings import DEFAULTS

SCENE_KNOWN_SET = "fmnist_scene_known"
SCENE_TEST_SET = "fmnist_scene_test"
TRUE_MASK_DIR = "true_masks"
SCENE_SIZE = 128
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "brick", "grass", "gravel", "camera")
ITEM_SIDE_RANGE = (0.45, 0.90)  # side of the pasted 28 x 28 item frame over the photo side
MARGIN = 0.04  # least gap between the item frame and the photo edge, over the photo side
CROP_SIDE_RANGE = (0.25, 1.0)  # side of the background crop over the shorter side of the source photo
MAX_HOLE = 20  # enclosed background of at most this many item pixels is dark print, not a gap
SHADE_FLOOR = 0.25  # the item's darkest shade, as a share of its colour
SPLIT_CODES = {"train": 0, "test": 1}  # keeps the generators of train and test item i apart


@functools.lru_cache(maxsize=1)
def background_photos():
    """The bundled real photos used as backgrounds, as read-only RGB uint8 arrays."""
    photos = [getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS]
    photos += list(load_sample_images().images)
    photos = [cv2.cvtColor(photo, cv2.COLOR_GRAY2RGB) if photo.ndim == 2 else photo for photo in photos]
    for photo in photos:
        photo.flags.writeable = False
    return tuple(photos)


def render_scene(item, rng, size=SCENE_SIZE, backgrounds=None):
    """Return (RGB uint8 size x size x 3, bool mask) of a 28 x 28 item pasted on a photo crop."""
    item = np.asarray(item)
    if item.dtype != np.uint8 or item.shape != (fmnist_data.SIDE, fmnist_data.SIDE):
        raise ValueError(f"item must be a uint8 28 x 28 array, got {item.dtype} {item.shape}")
    if not isinstance(size, (int, np.integer)) or size < fmnist_data.SIDE:
        raise ValueError(f"size must be an integer of at least {fmnist_data.SIDE}, got {size!r}")
    photos = background_photos() if backgrounds is None else backgrounds
    background = _background_crop(photos[rng.integers(len(photos))], size, rng)
    margin = int(round(MARGIN * size))
    side = min(size - 2 * margin, int(round(rng.uniform(*ITEM_SIDE_RANGE) * size)))
    left, top = (int(v) for v in rng.integers(margin, size - margin - side + 1, size=2))
    alpha = np.zeros((size, size), np.float32)
    colour = np.zeros((size, size, 3), np.float32)
    alpha[top:top + side, left:left + side] = _resize(silhouette(item).astype(np.float32), side)
    colour[top:top + side, left:left + side] = _colourise(_resize(item.astype(np.float32) / 255, side), rng)
    photo = background * (1 - alpha[..., None]) + colour * alpha[..., None]
    return np.clip(photo, 0, 255).round().astype(np.uint8), alpha >= 0.5


def silhouette(item):
    """Where a 28 x 28 item is: its non-zero pixels and the small enclosed zero patches (dark print)."""
    return remove_small_holes(item > 0, max_size=MAX_HOLE)


def _background_crop(photo, size, rng):
    height, width = photo.shape[:2]
    crop = max(size // 2, int(rng.uniform(*CROP_SIDE_RANGE) * min(height, width)))
    top, left = int(rng.integers(0, height - crop + 1)), int(rng.integers(0, width - crop + 1))
    patch = cv2.resize(photo[top:top + crop, left:left + crop], (size, size), interpolation=cv2.INTER_AREA)
    return (patch[:, ::-1] if rng.random() < 0.5 else patch).astype(np.float32)


def _resize(frame, side):
    return np.clip(cv2.resize(frame, (side, side), interpolation=cv2.INTER_LINEAR), 0, 1)


def _colourise(shade, rng):
    """Shade in [0, 1] to RGB: a random colour, darker where the item is darker."""
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(60, 256), rng.integers(110, 256)]]])
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    return rgb * (SHADE_FLOOR + (1 - SHADE_FLOOR) * shade[..., None])


def write_scenes(images, labels, folder, mask_folder, indices, split, size=SCENE_SIZE, seed=DEFAULTS.seed,
                 overwrite=False):
    """Write the scene photo of each item at `indices` into `folder` and its mask into `mask_folder`.

    Returns a `PhotoSet`; a folder already holding exactly these photos, each with its mask, is
    left alone, and photos of other items stop the run unless `overwrite`.
    """
    if split not in SPLIT_CODES:
        raise ValueError(f"split must be one of {sorted(SPLIT_CODES)}, got {split!r}")
    images, labels, indices = fmnist_data._check_plain_inputs(images, labels, indices)
    folder, mask_folder = Path(folder), Path(mask_folder)
    names = [fmnist_data.photo_name(fmnist_data.class_model_id(labels[i]), f"{split}{i:05d}") for i in indices]

    def render(position):
        photo, mask = render_scene(images[indices[position]], item_rng(seed, split, indices[position]), size)
        save_image(mask_folder / names[position], cv2.cvtColor(mask.astype(np.uint8) * 255, cv2.COLOR_GRAY2RGB))
        return photo

    masks_missing = not all((mask_folder / name).is_file() for name in names)
    redraw = masks_missing and fmnist_data._photo_files(folder) == set(names)
    return fmnist_data._write_set(folder, names, render, overwrite or redraw)


def item_rng(seed, split, index):
    """The generator that draws the scene of item `index` of `split`, whatever else is written."""
    return np.random.default_rng([seed, SPLIT_CODES[split], int(index)])


def true_mask_folder(root, set_name):
    """Where the true masks of a scene set live: data/<set>/true_masks."""
    return Path(root) / DEFAULTS.data_dir.format(dataset=set_name) / TRUE_MASK_DIR


def make_scene_known(source=DEFAULT_SOURCE, root=REPO_ROOT, per_class=fmnist_data.DEFAULT_PER_CLASS,
                     known=fmnist_data.DEFAULT_KNOWN_CLASSES, seed=DEFAULTS.seed, size=SCENE_SIZE, overwrite=False):
    """Scene photos of the training items `make_known` chooses with the same arguments."""
    known = fmnist_data._check_classes(known)
    images, labels = fmnist_data.load_split(source, "train")
    rng = np.random.default_rng(seed)
    indices = np.sort(np.concatenate([fmnist_data._choose_from_class(labels, label, per_class, rng)
                                      for label in known]))
    return write_scenes(images, labels, fmnist_data.raw_folder(root, SCENE_KNOWN_SET),
                        true_mask_folder(root, SCENE_KNOWN_SET), indices, "train", size, seed, overwrite)


def make_scene_test(source=DEFAULT_SOURCE, root=REPO_ROOT, count=None, seed=DEFAULTS.seed, size=SCENE_SIZE,
                    overwrite=False):
    """Scene photos of the whole test split, or of a seeded subset of `count` items."""
    images, labels = fmnist_data.load_split(source, "test")
    indices = test_indices(len(images), count, seed)
    return write_scenes(images, labels, fmnist_data.raw_folder(root, SCENE_TEST_SET),
                        true_mask_folder(root, SCENE_TEST_SET), indices, "test", size, seed, overwrite)


def test_indices(n_items, count=None, seed=DEFAULTS.seed):
    """Sorted item numbers of the scene test set: all `n_items`, or a seeded subset of `count`."""
    if count is None:
        return np.arange(n_items)
    if not isinstance(count, (int, np.integer)) or not 1 <= count <= n_items:
        raise ValueError(f"count must be None or an integer in 1..{n_items}, got {count!r}")
    return np.sort(np.random.default_rng(seed).choice(n_items, size=count, replace=False))


def main(argv=None):
    args = _parser().parse_args(argv)
    writers = {
        "known": lambda: [make_scene_known(args.source, args.root, args.per_class, args.known_classes, args.seed,
                                           args.size, args.overwrite)],
        "test": lambda: [make_scene_test(args.source, args.root, args.test_count, args.seed, args.size,
                                         args.overwrite)],
    }
    return fmnist_data.write_chosen(writers, args.sets)


def _parser():
    parser = fmnist_data.set_writer_parser(
        "python -m benchmarks.scenes",
        "Write the Fashion-MNIST scene sets (items on real photos, true masks) under ROOT.",
        ("known", "test"), f"known = {SCENE_KNOWN_SET}, test = {SCENE_TEST_SET} (default: both)")
    parser.add_argument("--test-count", type=int, default=None,
                        help="a seeded subset of this many test items (default: the whole test split)")
    parser.add_argument("--size", type=int, default=SCENE_SIZE, help="photo side in pixels (default: %(default)s)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
