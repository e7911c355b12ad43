import re
import time
from collections import defaultdict

import cv2
import numpy as np
import pytest

from prodcluster.demo import (DEMO_MODELS, DEMO_PHOTOS_PER_MODEL, PHOTO_SIDE_RANGE, ensure_demo, make_demo,
                              model_spec)
from prodcluster.fileio import read_image

NAME = re.compile(r"^(M\d{3})_(P\d{4,})_(I\d{2})\.jpg$")
SMALL = {"n_models": 4, "photos_per_model": 5, "seed": 3}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    paths = make_demo(root / "photos", mask_folder=root / "masks", **SMALL)
    return root, paths


@pytest.fixture(scope="module")
def default_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("default")
    start = time.perf_counter()
    paths = make_demo(root / "photos", mask_folder=root / "masks")
    return root, paths, time.perf_counter() - start


def _parts(path):
    match = NAME.match(path.name)
    assert match, f"{path.name} does not follow MODELID_PRODUCTID_IMAGEID.jpg"
    return match.groups()


def _read_mask(root, photo):
    return cv2.imread(str(root / "masks" / f"{photo.stem}.png"), cv2.IMREAD_UNCHANGED)


def test_names_follow_the_scheme_and_counts_are_right(small_set):
    root, paths = small_set
    assert sorted((root / "photos").iterdir()) == paths
    models = defaultdict(list)
    for path in paths:
        model, product, image = _parts(path)
        models[model].append((product, image))
    assert sorted(models) == ["M001", "M002", "M003", "M004"]
    assert all(len(photos) == SMALL["photos_per_model"] for photos in models.values())


def test_each_model_is_listed_by_several_products_that_belong_to_it_alone(small_set):
    _, paths = small_set
    owners = defaultdict(set)
    for path in paths:
        model, product, _ = _parts(path)
        owners[product].add(model)
    assert all(len(models) == 1 for models in owners.values())
    products_per_model = defaultdict(set)
    for product, (model,) in owners.items():
        products_per_model[model].add(product)
    assert all(len(products) >= 2 for products in products_per_model.values())


def test_same_seed_gives_identical_bytes(small_set, tmp_path):
    root, paths = small_set
    again = make_demo(tmp_path / "photos", mask_folder=tmp_path / "masks", **SMALL)
    assert [path.name for path in again] == [path.name for path in paths]
    for first, second in zip(paths, again):
        assert first.read_bytes() == second.read_bytes()
        mask_name = f"masks/{first.stem}.png"
        assert (root / mask_name).read_bytes() == (tmp_path / mask_name).read_bytes()


def test_another_seed_gives_other_photos(small_set, tmp_path):
    _, paths = small_set
    other = make_demo(tmp_path, **{**SMALL, "seed": SMALL["seed"] + 1})
    assert {path.read_bytes() for path in other}.isdisjoint(path.read_bytes() for path in paths)


def test_photos_vary_in_size_and_masks_fit_them(small_set):
    root, paths = small_set
    low, high = PHOTO_SIDE_RANGE
    sizes = set()
    for path in paths:
        photo, mask = read_image(path), _read_mask(root, path)
        assert mask.shape == photo.shape[:2]
        assert set(np.unique(mask)) <= {0, 255}
        assert 0.05 <= (mask > 0).mean() <= 0.8, path.name
        assert low <= photo.shape[0] <= high and low <= photo.shape[1] <= high
        sizes.add(photo.shape)
    assert len(sizes) > len(paths) // 2


def test_mask_outline_lies_on_the_object_edges(small_set):
    root, paths = small_set
    contrast = [_edge_strength_on_outline(read_image(path), _read_mask(root, path)) for path in paths]
    # A mask shifted by a few pixels gives about 1.5 to 4 here; the true one about 9.
    assert min(contrast) > 1.5
    assert np.median(contrast) > 5


def _edge_strength_on_outline(photo, mask):
    """Mean gradient on the mask's outline relative to the photo's mean gradient."""
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gradient = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    outline = cv2.morphologyEx((mask > 0).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    return gradient[outline].mean() / gradient.mean()


def test_models_of_one_shape_differ_in_style_and_pattern():
    specs = [model_spec(index) for index in range(DEMO_MODELS)]
    by_shape = defaultdict(list)
    for spec in specs:
        by_shape[spec.shape].append((spec.style, spec.pattern))
    assert len(by_shape) >= 8
    for variants in by_shape.values():
        styles, patterns = zip(*variants)
        assert len(set(styles)) == len(styles) and len(set(patterns)) == len(patterns)


def test_default_set_is_fast_complete_and_separable(default_set):
    root, paths, seconds = default_set
    assert len(paths) == DEMO_MODELS * DEMO_PHOTOS_PER_MODEL == len({path.name for path in paths})
    assert seconds < 30
    # Nearest neighbour on the foreground's colours alone already finds a photo of the same model.
    masks = [_read_mask(root, path) for path in paths]
    assert all(0.05 <= (mask > 0).mean() <= 0.8 for mask in masks)
    features = np.array([_foreground_colours(read_image(path), mask) for path, mask in zip(paths, masks)])
    models = np.array([_parts(path)[0] for path in paths])
    distances = np.linalg.norm(features[:, None] - features[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    assert (models[distances.argmin(axis=1)] == models).mean() >= 0.9


def _foreground_colours(photo, mask):
    hsv = cv2.cvtColor(photo, cv2.COLOR_RGB2HSV)
    histogram = cv2.calcHist([hsv], [0, 1, 2], mask, [12, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
    return np.sqrt(histogram / histogram.sum())


def test_ensure_demo_makes_a_missing_set_and_keeps_an_existing_one(tmp_path):
    folder = tmp_path / "photos"
    made = ensure_demo(folder, n_models=2, photos_per_model=2)
    assert len(made) == 4
    stamps = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in made}
    kept = ensure_demo(folder, n_models=3, photos_per_model=3, seed=9)
    assert kept == made
    assert {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in kept} == stamps


def test_ensure_demo_fills_a_folder_without_photos_and_says_so(tmp_path, caplog):
    caplog.set_level("INFO")
    (tmp_path / "notes.txt").write_text("not a photo")
    assert len(ensure_demo(tmp_path, n_models=2, photos_per_model=1)) == 2
    assert caplog.messages == [f"demo: drawing 2 models x 1 photos into {tmp_path}"]


@pytest.mark.parametrize("arguments", [{"n_models": 0}, {"photos_per_model": -1}, {"seed": -1},
                                       {"n_models": 2.5}, {"photos_per_model": True}])
def test_bad_arguments_are_refused(tmp_path, arguments):
    with pytest.raises(ValueError, match=next(iter(arguments))):
        make_demo(tmp_path, **arguments)
    assert not any(tmp_path.iterdir())
