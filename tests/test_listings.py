"""The suite's listing sets: counts, sizes, masks, and the thin-part score on hand-made masks."""
import cv2
import numpy as np
import pytest

from benchmarks import listings, scenes
from benchmarks.background_eval import read_mask
from benchmarks.listings import ListingSpec, thin_part_iou, thin_part_mask, write_listing_set
from prodcluster.labels import parse_name


@pytest.mark.parametrize("kind, low, high", [("studio", 3, 60), ("long_tail", 2, 100), ("thin_parts", 3, 40)])
def test_photo_counts_stay_in_range_and_follow_the_seed(kind, low, high):
    spec = ListingSpec(kind, 200, 5, low, high)
    counts = spec.photo_counts()
    assert len(counts) == 200 and min(counts) >= low and max(counts) <= high
    assert counts == spec.photo_counts() and counts != ListingSpec(kind, 200, 6, low, high).photo_counts()


def test_long_tail_has_mostly_small_models_and_some_large_ones():
    counts = np.array(ListingSpec("long_tail", 300, 1, 2, 100).photo_counts())
    assert np.median(counts) <= 5 and (counts <= 4).mean() > 0.4 and counts.max() >= 50


def test_thin_parts_draws_only_bags():
    assert {spec.shape for spec in ListingSpec("thin_parts", 12, 3, 3, 10).specs()} <= set(listings.BAG_SHAPES)


def test_a_written_set_names_every_model_and_has_a_true_mask_per_photo(tmp_path):
    spec = ListingSpec("studio", 4, 9, 3, 8)
    assert write_listing_set(tmp_path, "s", spec) == sum(spec.photo_counts())
    photos = sorted((tmp_path / "raw_img" / "s").glob("*.jpg"))
    models = [parse_name(path.name)["model_id"] for path in photos]
    assert [models.count(model) for model in sorted(set(models))] == spec.photo_counts()
    for path in photos:
        mask = read_mask(scenes.true_mask_folder(tmp_path, "s") / f"{path.stem}.png")
        assert mask.shape == cv2.imread(str(path)).shape[:2] and 0.05 < mask.mean() < 0.9
    stamp = photos[0].stat().st_mtime_ns
    write_listing_set(tmp_path, "s", spec)  # already written: left alone
    assert photos[0].stat().st_mtime_ns == stamp


def test_studio_backgrounds_mix_white_and_tinted_photos():
    rng = np.random.default_rng(0)
    corners = [listings.studio_background(rng, 40, 50)[0, 0] for _ in range(200)]
    white = [corner.min() >= 245 for corner in corners]
    assert 0.2 < np.mean(white) < 0.6
    assert all(corner.min() > 150 for corner in corners)  # light: a studio, not a scene


def hand_made_mask():
    """A 200 x 200 box with a 3-pixel handle arc above it."""
    mask = np.zeros((200, 200), np.uint8)
    cv2.rectangle(mask, (50, 100), (150, 170), 1, -1)
    cv2.ellipse(mask, (100, 100), (40, 50), 0, 180, 360, 1, 3)
    return mask > 0


def test_thin_parts_are_the_handle_not_the_box():
    mask = hand_made_mask()
    thin = thin_part_mask(mask)
    assert thin[:100].sum() == thin.sum() > 300  # all on the arc above the box, most of it
    assert not thin[100:].any()


def test_thin_part_iou_is_the_share_of_the_handle_kept():
    mask = hand_made_mask()
    without_handle = mask.copy()
    without_handle[:100] = False
    assert thin_part_iou(mask, mask) == 1.0
    assert thin_part_iou(without_handle, mask) < 0.1
    assert thin_part_iou(mask, np.zeros_like(mask)) is None  # no thin part to score
