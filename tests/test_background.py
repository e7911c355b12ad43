import os

import cv2
import numpy as np
import pytest

from prodcluster.background import METHODS, preprocess_folder, remove_background
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


def product_photo(seed=0, plain=False, noise=4.0, scale=1.0, size=SIZE):
    """A dark striped pentagon on a light background; returns (rgb, true foreground mask)."""
    rng = np.random.default_rng(seed)
    background = np.full((size, size, 3), 255.0) if plain else smooth_cluttered_background(rng, size)
    truth = np.zeros((size, size), np.uint8)
    corners = (OBJECT_CORNERS - 0.5) * scale + 0.5
    cv2.fillPoly(truth, [(corners * size).astype(np.int32)], 1)
    stripes = np.array([60, 40, 70]) + 20 * np.sin(np.arange(size) / 5)[None, :, None]
    image = np.where(truth[..., None] > 0, stripes, background)
    image = image + rng.normal(0, noise, image.shape) if noise else image
    return np.clip(image, 0, 255).round().astype(np.uint8), truth.astype(bool)


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sobel_contour_mask_matches_the_product_on_a_cluttered_background(seed):
    rgb, truth = product_photo(seed)
    out, mask = remove_background(rgb, "sobel_contour")
    assert iou(mask, truth) > 0.88  # measured 0.93 to 0.94
    assert (out[~mask] == 255).all()
    assert (out[mask] == rgb[mask]).all()


def test_plain_white_photo_keeps_the_object():
    rgb, truth = product_photo(plain=True, noise=0)
    out, mask = remove_background(rgb)
    assert mask[truth].all()
    assert iou(mask, truth) > 0.9  # measured 0.95
    assert (out == rgb).all()  # the background was white already


def test_photo_without_a_large_contour_is_kept_whole():
    rgb, _ = product_photo(plain=True, scale=0.3)  # the object covers about 2% of the photo
    out, mask = remove_background(rgb)
    assert mask.all()
    assert (out == rgb).all()


def test_none_returns_the_photo_unchanged_and_leaves_the_input_alone():
    rgb, _ = product_photo()
    before = rgb.copy()
    out, mask = remove_background(rgb, "none")
    assert mask.all() and mask.shape == rgb.shape[:2]
    assert (out == rgb).all() and out is not rgb
    remove_background(rgb, "sobel_contour")
    assert (rgb == before).all()


def test_bad_method_and_bad_image_are_refused(tmp_path):
    rgb, _ = product_photo()
    with pytest.raises(ValueError, match="sobel_contour, none"):
        remove_background(rgb, "grabcut")
    with pytest.raises(ValueError, match="sobel_contour, none"):
        preprocess_folder(tmp_path, tmp_path / "out", [], method="grabcut")
    with pytest.raises(ValueError, match="RGB uint8"):
        remove_background(rgb[..., 0])
    with pytest.raises(ValueError, match="RGB uint8"):
        remove_background(rgb.astype(np.float32))
    assert METHODS == ("sobel_contour", "none")


def test_folder_arguments_are_checked(tmp_path):
    with pytest.raises(FileNotFoundError):
        preprocess_folder(tmp_path / "missing", tmp_path / "out", ["a.jpg"])
    with pytest.raises(ValueError, match="must differ"):
        preprocess_folder(tmp_path, tmp_path, ["a.jpg"])
    with pytest.raises(ValueError, match="no folder part"):
        preprocess_folder(tmp_path, tmp_path / "out", ["sub/a.jpg"])
    with pytest.raises(ValueError, match="repeated mask name"):
        preprocess_folder(tmp_path, tmp_path / "out", ["a.jpg", "a.png"], mask_dir=tmp_path / "masks")
    with pytest.raises(ValueError, match="workers"):
        preprocess_folder(tmp_path, tmp_path / "out", ["a.jpg"], workers=0)


def write_photos(folder, count, extension=".jpg"):
    names = []
    for seed in range(count):
        name = f"m{seed % 2}_p{seed}_0{extension}"
        save_image(folder / name, product_photo(seed)[0])
        names.append(name)
    return names


def test_corrupt_photo_is_rejected_and_the_others_are_written(tmp_path):
    src = tmp_path / "raw"
    names = write_photos(src, 3)
    (src / "m9_bad_0.jpg").write_bytes((src / names[0]).read_bytes()[:200])
    (src / "m9_empty_0.png").write_bytes(b"")
    all_names = names[:1] + ["m9_bad_0.jpg"] + names[1:] + ["m9_empty_0.png"]
    rejected = preprocess_folder(src, tmp_path / "img", all_names, workers=1, mask_dir=tmp_path / "mask")
    assert list(rejected.columns) == ["file", "stage", "reason"]
    assert rejected["file"].tolist() == ["m9_bad_0.jpg", "m9_empty_0.png"]
    assert (rejected["stage"] == "01").all()
    assert "empty" in rejected["reason"].iloc[1]
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == sorted(names)
    for name in names:
        out = read_image(tmp_path / "img" / name)
        mask = read_image(tmp_path / "mask" / name.replace(".jpg", ".png"))[..., 0]
        assert set(np.unique(mask)) == {0, 255}
        assert (out[mask == 0] > 240).all()  # white, up to JPEG loss


def test_none_copies_matching_files_byte_for_byte(tmp_path):
    src = tmp_path / "raw"
    names = write_photos(src, 1, ".jpg") + write_photos(src, 1, ".png")
    disguised = "m5_png_0.jpg"  # PNG content behind a .jpg name: re-encoded as a real JPEG
    save_image(tmp_path / "real.png", product_photo(noise=0)[0])
    (src / disguised).write_bytes((tmp_path / "real.png").read_bytes())
    rejected = preprocess_folder(src, tmp_path / "img", names + [disguised], method="none", workers=1)
    assert rejected.empty
    for name in names:
        assert (tmp_path / "img" / name).read_bytes() == (src / name).read_bytes()
    assert (tmp_path / "img" / disguised).read_bytes()[:3] == b"\xff\xd8\xff"
    difference = read_image(tmp_path / "img" / disguised).astype(int) - read_image(src / disguised)
    assert np.abs(difference).mean() < 2  # JPEG loss only


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
    assert len(output_bytes(tmp_path / "img1")) == 5


def inodes(folder):
    return {path.name: path.stat().st_ino for path in folder.iterdir()}


def test_rerun_skips_finished_photos_and_redoes_stale_or_missing_ones(tmp_path):
    src, dst = tmp_path / "raw", tmp_path / "img"
    names = write_photos(src, 3)
    preprocess_folder(src, dst, names, workers=1)
    first = inodes(dst)  # every write replaces the file, so a rewrite changes its inode
    preprocess_folder(src, dst, names, workers=1)
    assert inodes(dst) == first
    newer = (dst / names[0]).stat().st_mtime + 10
    os.utime(src / names[0], (newer, newer))
    (dst / names[1]).unlink()
    preprocess_folder(src, dst, names, workers=1)
    second = inodes(dst)
    assert second[names[0]] != first[names[0]]
    assert names[1] in second
    assert second[names[2]] == first[names[2]]
    os.utime(src / names[0], (newer - 20, newer - 20))
    preprocess_folder(src, dst, names, workers=1, force=True)
    assert all(inode != second[name] for name, inode in inodes(dst).items())
