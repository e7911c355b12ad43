"""Tests of the scene writer (Fashion-MNIST items on real photos) and of the mask scoring, on tiny idx files."""
import re

import numpy as np
import pytest

from benchmarks import background_eval, fmnist_data, scenes
from prodcluster.preprocess import preprocess_folder
from prodcluster.fileio import read_image, save_image
from tests.test_fmnist_data import tiny_split, write_source

NAME = re.compile(r"^C0\d_(train|test)\d{5}_0\.png$")
PER_CLASS_TRAIN = 3
PER_CLASS_TEST = 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    rng = np.random.default_rng(1)
    return write_source(tmp_path_factory.mktemp("tiny"), tiny_split(PER_CLASS_TRAIN, rng),
                        tiny_split(PER_CLASS_TEST, rng))


def photo_names(folder):
    return sorted(path.name for path in folder.iterdir())


def read_mask(path):
    mask = read_image(path)[..., 0]
    assert set(np.unique(mask)) <= {0, 255}
    return mask > 0


def test_known_set_holds_the_plain_known_photos_with_a_mask_each(tiny, tmp_path):
    result = scenes.make_scene_known(tiny, tmp_path, per_class=2, known=(0, 3, 5), seed=4, size=64)
    plain = fmnist_data.make_known(tiny, tmp_path, per_class=2, known=(0, 3, 5), seed=4)
    names = photo_names(result.folder)
    assert result.written and result.count == 6 == len(names)
    assert result.folder == tmp_path / "raw_img" / scenes.SCENE_KNOWN_SET
    assert names == photo_names(plain.folder)  # the same items as the plain protocol
    assert all(NAME.match(name) for name in names)
    assert {name[:3] for name in names} == {"C00", "C03", "C05"}
    masks = scenes.true_mask_folder(tmp_path, scenes.SCENE_KNOWN_SET)
    assert masks == tmp_path / "data" / scenes.SCENE_KNOWN_SET / "true_masks"
    assert photo_names(masks) == names
    for name in names:
        assert read_image(result.folder / name).shape == (64, 64, 3)
        assert 0.02 < read_mask(masks / name).mean() < 0.8


def test_test_set_is_the_whole_split_or_a_seeded_subset_of_identical_photos(tiny, tmp_path):
    whole = scenes.make_scene_test(tiny, tmp_path / "whole", size=48)
    subset = scenes.make_scene_test(tiny, tmp_path / "subset", count=7, size=48)
    assert whole.count == 10 * PER_CLASS_TEST and subset.count == 7
    assert len({name[:3] for name in photo_names(whole.folder)}) == 10
    assert set(photo_names(subset.folder)) < set(photo_names(whole.folder))
    for name in photo_names(subset.folder):
        assert (subset.folder / name).read_bytes() == (whole.folder / name).read_bytes()
    assert photo_names(subset.folder) == photo_names(
        scenes.make_scene_test(tiny, tmp_path / "again", count=7, size=48).folder)
    with pytest.raises(ValueError, match="count"):
        scenes.make_scene_test(tiny, tmp_path / "bad", count=21)


def test_rerun_is_skipped_lost_masks_are_redrawn_and_stale_photos_need_overwrite(tiny, tmp_path):
    assert scenes.make_scene_test(tiny, tmp_path, count=5, size=40).written
    assert not scenes.make_scene_test(tiny, tmp_path, count=5, size=40).written
    masks = scenes.true_mask_folder(tmp_path, scenes.SCENE_TEST_SET)
    lost = photo_names(masks)[0]
    kept = (masks / lost).read_bytes()
    (masks / lost).unlink()
    assert scenes.make_scene_test(tiny, tmp_path, count=5, size=40).written  # a lost mask redraws the set
    assert (masks / lost).read_bytes() == kept
    with pytest.raises(ValueError, match="overwrite"):
        scenes.make_scene_test(tiny, tmp_path, count=4, size=40)
    assert scenes.make_scene_test(tiny, tmp_path, count=4, size=40, overwrite=True).count == 4
    assert len(photo_names(tmp_path / "raw_img" / scenes.SCENE_TEST_SET)) == 4


def test_mask_marks_exactly_where_the_item_covers_the_photo():
    item = np.zeros((28, 28), np.uint8)
    item[6:22, 8:20] = 200
    flat = np.full((100, 100, 3), 128, np.uint8)
    photo, mask = scenes.render_scene(item, np.random.default_rng(0), size=100, backgrounds=(flat,))
    untouched = np.all(photo == 128, axis=2)
    assert not (mask & untouched).any()
    assert untouched[~mask].mean() > 0.97  # only the blended rim differs outside the mask
    side = mask.any(axis=0).sum(), mask.any(axis=1).sum()
    assert mask.sum() == side[0] * side[1]  # a filled rectangle
    assert side[1] / side[0] == pytest.approx(16 / 12, rel=0.1)


def test_scenes_use_several_real_photos_and_small_dark_print_stays_product():
    photos = scenes.background_photos()
    assert len(photos) == len(scenes.SKIMAGE_PHOTOS) + 2
    assert all(photo.ndim == 3 and photo.dtype == np.uint8 for photo in photos)
    item = np.zeros((28, 28), np.uint8)
    item[4:24, 4:24] = 180
    item[10:13, 10:13] = 0  # a dark logo inside the item, not a gap
    item[14:24, 12:16] = 0  # a gap open to the outside
    silhouette = scenes.silhouette(item)
    assert silhouette[10:13, 10:13].all() and not silhouette[14:24, 12:16].any()


def test_cli_writes_the_chosen_sets(tiny, tmp_path, capsys):
    assert scenes.main(["--source", str(tiny), "--root", str(tmp_path), "--sets", "test", "--test-count", "3",
                        "--size", "32"]) == 0
    assert "3 photos, written" in capsys.readouterr().out
    assert scenes.main(["--source", str(tmp_path / "missing"), "--root", str(tmp_path)]) == 1


def test_mask_scores_of_stage_01_outputs(tmp_path):
    samples = [scenes.render_scene(np.pad(np.full((16, 16), 150, np.uint8), 6), np.random.default_rng(i))
               for i in range(3)]
    names = [f"C00_test{i:05d}_0.png" for i in range(3)]
    for name, (photo, mask) in zip(names, samples):
        save_image(tmp_path / "raw" / name, photo)
        save_image(tmp_path / "true" / name, np.repeat(mask[..., None] * np.uint8(255), 3, axis=2))
    preprocess_folder(tmp_path / "raw", tmp_path / "img", names, workers=1, mask_dir=tmp_path / "masks")
    scores = background_eval.folder_mask_scores(tmp_path / "masks", tmp_path / "true", names)
    assert scores["mask_iou_mean"] > 0.85  # measured 0.98
    assert scores["mask_iou_p10"] <= scores["mask_iou_mean"]
    summary = background_eval.score_method([(name, photo, mask) for name, (photo, mask) in zip(names, samples)],
                                           "none")
    assert summary["outcomes"]["unchanged"] == 3 and summary["mask_iou_mean"] < 0.5
    assert background_eval.mask_iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
