import json
import os

import cv2
import numpy as np
import pytest

from benchmarks import scenes
from prodcluster import background
from prodcluster.background import METHODS, remove_background
from prodcluster.preprocess import MANIFEST_NAME, preprocess_folder
from prodcluster.fileio import read_image, save_image

SIZE = 160
OBJECT_CORNERS = np.array([[0.30, 0.25], [0.70, 0.30], [0.75, 0.70], [0.45, 0.80], [0.25, 0.60]])


def smooth_cluttered_background(rng, size=SIZE):
    """A light colour gradient with soft, low-contrast blobs: no sharp edges of its own."""
    y, x = np.mgrid[0:size, 0:size] / size
    gradient = 205 + 35 * x[..., None] * np.array([1.0, 0.8, 0.6]) + 10 * y[..., None]
    blobs = np.zeros((size, size), np.float32)
    for _ in range(6):
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        cv2.circle(blobs, centre, int(rng.integers(size // 10, size // 4)), float(rng.uniform(-25, 25)), -1)
    return gradient + cv2.GaussianBlur(blobs, (0, 0), size / 12)[..., None]


def block_texture(rng, size=SIZE):
    """Light, sharp-edged random colour blocks: edges everywhere, as on a shop floor."""
    blocks = rng.uniform(120, 240, (size // 4, size // 4, 3))
    return cv2.resize(blocks, (size, size), interpolation=cv2.INTER_NEAREST)


def product_photo(seed=0, plain=False, noise=4.0, scale=1.0, size=SIZE, textured=False):
    """A dark striped pentagon on a light background; returns (rgb, true foreground mask)."""
    rng = np.random.default_rng(seed)
    if plain:
        background_rgb = np.full((size, size, 3), 255.0)
    else:
        background_rgb = block_texture(rng, size) if textured else smooth_cluttered_background(rng, size)
    truth = np.zeros((size, size), np.uint8)
    corners = (OBJECT_CORNERS - 0.5) * scale + 0.5
    cv2.fillPoly(truth, [(corners * size).astype(np.int32)], 1)
    stripes = np.array([60, 40, 70]) + 20 * np.sin(np.arange(size) / 5)[None, :, None]
    image = np.where(truth[..., None] > 0, stripes, background_rgb)
    image = image + rng.normal(0, noise, image.shape) if noise else image
    return np.clip(image, 0, 255).round().astype(np.uint8), truth.astype(bool)


def shaded_blob(rng):
    """A 28 x 28 Fashion-MNIST-like item: a shaded ellipse on black."""
    frame = np.zeros((28, 28), np.uint8)
    axes = (int(rng.integers(6, 12)), int(rng.integers(6, 12)))
    cv2.ellipse(frame, (14, 14), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return cv2.GaussianBlur(rng.integers(60, 256, (28, 28)).astype(np.uint8), (5, 5), 0) * frame


def real_photo_scenes(count=12):
    """Items pasted on the bundled real photos by the scene writer, with their true masks."""
    return [scenes.render_scene(shaded_blob(rng), rng)
            for rng in (np.random.default_rng([100, i]) for i in range(count))]


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sobel_contour_mask_matches_the_product_on_a_cluttered_background(seed):
    rgb, truth = product_photo(seed)
    out, mask, outcome = remove_background(rgb, "sobel_contour")
    assert iou(mask, truth) > 0.88  # measured 0.92
    assert outcome == "removed"
    assert (out[~mask] == 255).all()
    assert (out[mask] == rgb[mask]).all()


@pytest.mark.parametrize("textured", [False, True])
def test_grabcut_finds_the_product_on_smooth_and_textured_backgrounds(textured):
    rgb, truth = product_photo(3, textured=textured)
    out, mask, outcome = remove_background(rgb, "grabcut")
    assert iou(mask, truth) > 0.95  # measured 1.0 on both
    assert outcome == "removed"
    assert (out[~mask] == 255).all() and (out[mask] == rgb[mask]).all()
    if textured:  # edges everywhere: the 2019 method fills the background instead
        assert iou(remove_background(rgb, "sobel_contour").mask, truth) < 0.5  # measured 0.23


def test_grabcut_beats_sobel_contour_on_real_photo_scenes():
    samples = real_photo_scenes()
    grabcut = np.mean([iou(remove_background(rgb, "grabcut").mask, truth) for rgb, truth in samples])
    sobel = np.mean([iou(remove_background(rgb, "sobel_contour").mask, truth) for rgb, truth in samples])
    assert grabcut > 0.85  # measured 0.95
    assert sobel < 0.6  # measured 0.35
    assert grabcut > sobel + 0.3


def test_plain_white_photo_is_left_untouched_with_the_product_masked():
    rgb, truth = product_photo(plain=True, noise=2)
    out, mask, outcome = remove_background(rgb, "grabcut")
    assert outcome == "plain"
    assert (out == rgb).all()
    assert iou(mask, truth) > 0.95  # measured 1.0


def test_product_touching_the_edges_does_not_hide_a_plain_background():
    rgb, _ = product_photo(plain=True, noise=0, scale=1.9)  # the pentagon crosses every edge
    assert remove_background(rgb, "grabcut").outcome == "plain"
    assert remove_background(product_photo(0)[0], "grabcut").outcome != "plain"  # light but not plain


@pytest.mark.parametrize("case", ["empty", "whole"])
def test_implausible_mask_keeps_the_original_photo(case):
    rgb = np.full((120, 100, 3), (90, 110, 150), np.uint8)  # plain, but not near white
    if case == "whole":
        rgb[2:-2, 2:-2] = (200, 40, 40)  # "product" filling all but a 2-pixel frame
    mask = background.grabcut_mask(rgb)
    assert mask.mean() < background.MIN_FOREGROUND if case == "empty" else mask.mean() > background.MAX_FOREGROUND
    out, kept, outcome = remove_background(rgb, "grabcut")
    assert outcome == "implausible"
    assert (out == rgb).all() and kept.all()


def test_photo_without_a_large_contour_is_kept_whole_by_sobel_contour():
    rgb, _ = product_photo(plain=True, scale=0.3)  # the object covers about 2% of the photo
    out, mask, outcome = remove_background(rgb, "sobel_contour")
    assert mask.all() and outcome == "implausible"
    assert (out == rgb).all()


def test_none_returns_the_photo_unchanged_and_no_method_alters_the_input():
    rgb, _ = product_photo()
    before = rgb.copy()
    out, mask, outcome = remove_background(rgb, "none")
    assert mask.all() and mask.shape == rgb.shape[:2] and outcome == "unchanged"
    assert (out == rgb).all() and out is not rgb
    for method in METHODS:
        remove_background(rgb, method)
    assert (rgb == before).all()


def test_photos_of_any_size_get_a_mask_of_their_size():
    rgb, truth = product_photo(4, size=400)  # shrunk for GrabCut, mask scaled back
    removal = remove_background(rgb[:, :330], "grabcut")
    assert removal.mask.shape == (400, 330)
    assert iou(removal.mask, truth[:, :330]) > 0.95  # measured 0.98


def test_bad_method_and_bad_image_are_refused(tmp_path):
    rgb, _ = product_photo()
    with pytest.raises(ValueError, match="grabcut, grabcut_cluttered, sobel_contour, none"):
        remove_background(rgb, "magic")
    with pytest.raises(ValueError, match="grabcut, grabcut_cluttered, sobel_contour, none"):
        preprocess_folder(tmp_path, tmp_path / "out", [], method="magic")
    with pytest.raises(ValueError, match="RGB uint8"):
        remove_background(rgb[..., 0])
    with pytest.raises(ValueError, match="RGB uint8"):
        remove_background(rgb.astype(np.float32))


def test_folder_arguments_are_checked(tmp_path):
    with pytest.raises(FileNotFoundError):
        preprocess_folder(tmp_path / "missing", tmp_path / "out", ["a.jpg"])
    with pytest.raises(ValueError, match="must differ"):
        preprocess_folder(tmp_path, tmp_path, ["a.jpg"])
    with pytest.raises(ValueError, match="no absolute path or '..'"):
        preprocess_folder(tmp_path, tmp_path / "out", ["sub/../../a.jpg"])
    with pytest.raises(ValueError, match="repeated mask name"):
        preprocess_folder(tmp_path, tmp_path / "out", ["a.jpg", "a.png"], mask_dir=tmp_path / "masks")
    with pytest.raises(ValueError, match="workers"):
        preprocess_folder(tmp_path, tmp_path / "out", ["a.jpg"], workers=0)


def write_photos(folder, count, extension=".jpg"):
    names = []
    for seed in range(count):
        name = f"m{seed % 2}_p{seed}_0{extension}"
        save_image(folder / name, product_photo(seed, textured=seed % 2 == 1)[0])
        names.append(name)
    return names


def test_corrupt_photo_is_rejected_and_the_others_are_written(tmp_path):
    src = tmp_path / "raw"
    names = write_photos(src, 3)
    (src / "m9_bad_0.jpg").write_bytes((src / names[0]).read_bytes()[:200])
    (src / "m9_empty_0.png").write_bytes(b"")
    all_names = names[:1] + ["m9_bad_0.jpg"] + names[1:] + ["m9_empty_0.png"]
    rejected = preprocess_folder(src, tmp_path / "img", all_names, method="grabcut", workers=1,
                                 mask_dir=tmp_path / "mask")
    assert list(rejected.columns) == ["file", "stage", "reason"]
    assert rejected["file"].tolist() == ["m9_bad_0.jpg", "m9_empty_0.png"]
    assert (rejected["stage"] == "01").all()
    assert "empty" in rejected["reason"].iloc[1]
    assert rejected.attrs["outcomes"] == {"removed": 3, "plain": 0, "implausible": 0, "unchanged": 0}
    assert sorted(p.name for p in (tmp_path / "img").iterdir() if not p.name.startswith(".")) == sorted(names)
    for name in names:
        out = read_image(tmp_path / "img" / name)
        mask = read_image(tmp_path / "mask" / name.replace(".jpg", ".png"))[..., 0]
        assert set(np.unique(mask)) == {0, 255}
        assert (out[mask == 0] > 240).all()  # white, up to JPEG loss


def test_photos_kept_as_they_were_are_copied_byte_for_byte(tmp_path):
    src = tmp_path / "raw"
    names = write_photos(src, 1, ".jpg") + write_photos(src, 1, ".png")
    save_image(src / "m3_white_0.jpg", product_photo(plain=True)[0])
    save_image(src / "m3_flat_0.png", np.full((64, 64, 3), 90, np.uint8))
    disguised = "m5_png_0.jpg"  # PNG content behind a .jpg name: re-encoded as a real JPEG
    save_image(tmp_path / "real.png", product_photo(noise=0)[0])
    (src / disguised).write_bytes((tmp_path / "real.png").read_bytes())
    rejected = preprocess_folder(src, tmp_path / "none", names + [disguised], method="none", workers=1)
    assert rejected.empty and rejected.attrs["outcomes"]["unchanged"] == 3
    for name in names:
        assert (tmp_path / "none" / name).read_bytes() == (src / name).read_bytes()
    assert (tmp_path / "none" / disguised).read_bytes()[:3] == b"\xff\xd8\xff"
    difference = read_image(tmp_path / "none" / disguised).astype(int) - read_image(src / disguised)
    assert np.abs(difference).mean() < 2  # JPEG loss only
    kept = ["m3_white_0.jpg", "m3_flat_0.png"]
    rejected = preprocess_folder(src, tmp_path / "grabcut", kept, method="grabcut", workers=1)
    assert rejected.attrs["outcomes"] == {"removed": 0, "plain": 1, "implausible": 1, "unchanged": 0}
    for name in kept:
        assert (tmp_path / "grabcut" / name).read_bytes() == (src / name).read_bytes()


def output_bytes(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_one_and_two_workers_write_identical_outputs(tmp_path):
    src = tmp_path / "raw"
    names = write_photos(src, 5)
    for workers in (1, 2):
        masks = tmp_path / f"mask{workers}"
        preprocess_folder(src, tmp_path / f"img{workers}", names, workers=workers, mask_dir=masks)
    assert output_bytes(tmp_path / "img1") == output_bytes(tmp_path / "img2")
    assert output_bytes(tmp_path / "mask1") == output_bytes(tmp_path / "mask2")
    assert len(output_bytes(tmp_path / "mask1")) == 5


def inodes(folder):
    return {path.name: path.stat().st_ino for path in folder.iterdir() if not path.name.startswith(".")}


def test_rerun_skips_finished_photos_and_redoes_stale_or_missing_ones(tmp_path):
    src, dst = tmp_path / "raw", tmp_path / "img"
    names = write_photos(src, 3)
    preprocess_folder(src, dst, names, method="grabcut", workers=1)
    first = inodes(dst)  # every write replaces the file, so a rewrite changes its inode
    again = preprocess_folder(src, dst, names, method="grabcut", workers=1)
    assert inodes(dst) == first
    assert again.attrs["outcomes"]["removed"] == 3  # skipped photos are counted from the manifest
    newer = (dst / names[0]).stat().st_mtime + 10
    os.utime(src / names[0], (newer, newer))
    (dst / names[1]).unlink()
    preprocess_folder(src, dst, names, method="grabcut", workers=1)
    second = inodes(dst)
    assert second[names[0]] != first[names[0]]
    assert names[1] in second
    assert second[names[2]] == first[names[2]]
    os.utime(src / names[0], (newer - 20, newer - 20))
    preprocess_folder(src, dst, names, method="grabcut", workers=1, force=True)
    assert all(inode != second[name] for name, inode in inodes(dst).items())


def test_a_change_of_method_or_settings_redoes_the_work(tmp_path, monkeypatch):
    src, dst = tmp_path / "raw", tmp_path / "img"
    names = write_photos(src, 2)
    preprocess_folder(src, dst, names, method="sobel_contour", workers=1)
    manifest = json.loads((dst / MANIFEST_NAME).read_text())
    assert manifest["method"] == "sobel_contour" and sorted(manifest["photos"]) == sorted(names)
    first = inodes(dst)
    preprocess_folder(src, dst, names, method="grabcut", workers=1)
    second = inodes(dst)
    assert all(second[name] != first[name] for name in names)
    preprocess_folder(src, dst, names, method="grabcut", workers=1)
    assert inodes(dst) == second
    monkeypatch.setattr(background, "BORDER_COLOURS", background.BORDER_COLOURS + 1)
    preprocess_folder(src, dst, names, method="grabcut", workers=1)
    assert all(inode != second[name] for name, inode in inodes(dst).items())


def bag_on(background_rgb, size=200):
    """A dark bag body with a 3-pixel handle arc, on a given background colour; (rgb, truth, handle)."""
    truth = np.zeros((size, size), np.uint8)
    cv2.rectangle(truth, (50, 100), (150, 170), 1, -1)
    handle = np.zeros_like(truth)
    cv2.ellipse(handle, (100, 100), (40, 50), 0, 180, 360, 1, 3)
    rgb = np.empty((size, size, 3), np.float32)
    rgb[:] = background_rgb
    rgb[truth > 0] = (70, 40, 110)
    rgb[handle > 0] = (200, 120, 40)
    noise = np.random.default_rng(0).normal(0, 2, rgb.shape)
    return np.clip(rgb + noise, 0, 255).astype(np.uint8), (truth | handle) > 0, (handle > 0) & (truth == 0)


@pytest.mark.parametrize("tint, outcome", [((252, 252, 252), "plain"), ((232, 222, 200), "removed"),
                                           ((214, 214, 218), "removed"), ((236, 218, 236), "removed")])
def test_studio_photo_keeps_its_product_whole_handle_included(tint, outcome):
    rgb, truth, handle = bag_on(tint)
    out, mask, got = remove_background(rgb, "grabcut")
    assert got == outcome
    assert mask[handle].mean() > 0.97 and iou(mask, truth) > 0.9
    assert (out[truth] != rgb[truth]).any(axis=1).mean() < 0.001  # measured 4 corner pixels of 7,875
    if outcome == "removed":
        assert (out[~mask] == 255).all()
        assert background.studio_mask(rgb) is not None


def test_a_graded_studio_background_counts_as_studio_and_a_cluttered_one_does_not():
    y = np.linspace(0, 1, 200)[:, None, None]
    graded = (1 - y) * np.array([238, 230, 214]) + y * np.array([205, 212, 228])
    rgb, truth, _ = bag_on(np.broadcast_to(graded, (200, 200, 3)))
    assert iou(background.studio_mask(rgb), truth) > 0.9
    assert background.studio_mask(product_photo(0, textured=True)[0]) is None


@pytest.mark.parametrize("kinds, chosen", [(["studio"] * 6 + ["cluttered"] * 4, "none"),
                                           (["white"] * 5 + ["cluttered"] * 5, "grabcut"),
                                           (["cluttered"] * 3, "grabcut"), ([], "none"),
                                           (["studio"] * 10 + ["white"] * 10, "none"),
                                           (["studio"] * 10 + ["white"] * 7 + ["cluttered"] * 3, "none")])
def test_auto_removes_where_it_makes_a_set_look_alike(kinds, chosen):
    assert background.auto_method(kinds) == chosen


def test_background_kinds_of_white_tinted_and_cluttered_photos():
    assert background.background_kind(bag_on((252, 252, 252))[0]) == "white"
    assert background.background_kind(bag_on((228, 214, 236))[0]) == "studio"
    assert background.background_kind(product_photo(0, textured=True)[0]) == "cluttered"


@pytest.mark.parametrize("cluttered, method", [(0, "none"), (2, "none"), (6, "grabcut")])
def test_auto_applies_one_method_to_the_whole_set(tmp_path, cluttered, method):
    names = []
    for seed in range(6):
        rgb = product_photo(seed, textured=True)[0] if seed < cluttered else bag_on((235 - 4 * seed, 225, 215))[0]
        names.append(f"M{seed}_P_{seed}.png")
        save_image(tmp_path / "raw" / names[-1], rgb)
    rejected = preprocess_folder(tmp_path / "raw", tmp_path / "out", names, method="auto", workers=1)
    assert rejected.attrs["background_kinds"] == {"white": 0, "studio": 6 - cluttered, "cluttered": cluttered}
    assert rejected.attrs["method"] == method
    unchanged = [(tmp_path / "raw" / name).read_bytes() == (tmp_path / "out" / name).read_bytes() for name in names]
    assert all(unchanged) == (method == "none") and not any(unchanged[:cluttered] if method != "none" else [])


def test_grabcut_cluttered_removes_only_cluttered_backgrounds():
    tinted, _, _ = bag_on((232, 222, 200))
    assert background.background_kind(tinted) == "studio"
    kept = remove_background(tinted, "grabcut_cluttered")
    assert kept.outcome == "unchanged" and np.array_equal(kept.rgb, tinted) and kept.mask.all()
    rgb, truth = product_photo(0, textured=True)
    assert background.background_kind(rgb) == "cluttered"
    removed = remove_background(rgb, "grabcut_cluttered")
    assert removed.outcome == "removed" and iou(removed.mask, truth) > 0.9
    assert np.array_equal(removed.rgb, remove_background(rgb, "grabcut").rgb)
