"""Viewpoint sets: 3D products rendered from all around, their counts, masks, textures and backgrounds."""
import cv2
import numpy as np
import pytest

from benchmarks import listings, renders, scenes
from benchmarks.background_eval import read_mask
from benchmarks.renders import Part, RenderSpec
from prodcluster.labels import parse_name


def test_photo_counts_are_long_tailed_within_range_and_follow_the_seed():
    counts = np.array(RenderSpec(300, 5, 2, 60).photo_counts())
    assert counts.min() >= 2 and counts.max() == 60 and np.median(counts) <= 5
    assert list(counts) == RenderSpec(300, 5, 2, 60).photo_counts() != RenderSpec(300, 6, 2, 60).photo_counts()


def test_models_take_turns_over_the_categories_and_keep_their_parts():
    models = RenderSpec(14, 3, 2, 5).specs()
    assert sorted(model.category for model in models) == sorted(renders.CATEGORIES * 2)
    assert renders.model_spec(4, 3) == models[4] != renders.model_spec(4, 4)
    assert models[4].model_id == "S3M005"  # a known set (another seed) never shares a test set's ids


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("renders")
    spec = RenderSpec(7, 9, 2, 4)
    return root, spec, listings.write_listing_set(root, "v", spec)


def test_a_written_set_names_every_model_and_has_a_true_mask_per_photo(written):
    root, spec, count = written
    photos = sorted((root / "raw_img" / "v").glob("*.jpg"))
    assert count == len(photos) == sum(spec.photo_counts())
    models = [parse_name(path.name)["model_id"] for path in photos]
    assert [models.count(model) for model in sorted(set(models))] == spec.photo_counts()
    for path in photos:
        mask = read_mask(scenes.true_mask_folder(root, "v") / f"{path.stem}.png")
        assert mask.shape == cv2.imread(str(path)).shape[:2] and 0.03 < mask.mean() < 0.9


def test_the_same_seed_gives_the_same_photo():
    model = renders.model_spec(2, 1)
    first, second = (renders.photograph(model, 0, np.random.default_rng(8), renders.mixed_background(0.3))
                     for _ in range(2))
    assert all(np.array_equal(a, b) for a, b in zip(first[:2], second[:2])) and first[2] == second[2]


def test_the_mask_is_where_the_product_was_drawn_and_fills_the_frame_as_asked():
    model = renders.model_spec(0, 1)
    for seed in range(6):
        rgb, alpha = renders.render(model, 0, np.random.default_rng(seed), 240, 200)
        assert set(np.unique(alpha)) == {0.0, 1.0} and not rgb[alpha == 0].any()
        rows, columns = np.nonzero(alpha)
        longer = max(np.ptp(rows), np.ptp(columns)) + 1
        low, high = renders.FILL_RANGE
        assert low * 200 - 3 <= longer <= high * 200 + 3


def test_a_flat_product_turns_edge_on_and_face_on_as_the_camera_goes_round():
    phone = renders.RenderedModel("M001", "phone", (Part("blob", (0.5, 0.9, 0.04, 0.2, 0.2)),),
                                  ({"body": (200, 30, 30), "ink": (0, 0, 0)},))
    # the photo's share a slab covers: large face on, a sliver edge on
    areas = [renders.render(phone, 0, np.random.default_rng(seed), 200, 200)[1].mean() for seed in range(40)]
    assert max(areas) > 4 * min(areas)


def test_a_panel_print_shows_on_the_front_only():
    panel = ("panel", 0.0, 1.0, 0.0, 1.0, "colorwheel", 0.0, 0.0, 1.0, 1.0)
    part = Part("blob", (1.0, 1.0, 0.2, 0.3, 0.3), texture=panel)
    palette = {"body": (10, 200, 10), "ink": (0, 0, 0)}
    points, _, colours = renders._sample(part, palette, 40)
    back = points[:, 2] < -0.01
    assert (colours[back] == (10, 200, 10)).all() and not (colours[~back] == (10, 200, 10)).all(axis=1).all()


def test_backgrounds_are_studio_light_or_a_real_photograph_in_the_sets_share():
    rng = np.random.default_rng(1)
    rng.random()  # the painter's draw: studio or not
    assert np.array_equal(renders.mixed_background(0.0)(np.random.default_rng(1), 30, 40),
                          listings.studio_background(rng, 30, 40))
    photo = renders.mixed_background(1.0)(np.random.default_rng(2), 60, 80)
    assert photo.shape == (60, 80, 3) and photo.std() > 10
    paint = RenderSpec(5, 3, 2, 4).background()
    darkest = [paint(np.random.default_rng(seed), 24, 24).min() for seed in range(300)]
    low, high = renders.CLUTTERED_SHARE_RANGE
    assert low - 0.05 <= np.mean(np.array(darkest) < 120) <= high + 0.05


def test_the_sheet_shows_a_row_per_model(tmp_path, capsys):
    renders.main(["--sheet", str(tmp_path / "sheet.png"), "--models", "2", "--photos", "3"])
    assert (tmp_path / "sheet.png").stat().st_size > 1000 and "all 2 clusters" in capsys.readouterr().out
