"""Every kind of bad photo either works correctly or is listed as rejected while the run goes on."""
import io

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from prodcluster import handoff, labels, stages
from prodcluster.fileio import ImageError, read_image
from prodcluster.handoff import load_rejected

GOOD = np.full((40, 30, 3), 230, np.uint8)
GOOD[10:30, 5:25] = (20, 40, 160)


def jpeg_bytes(rgb=GOOD, **save):
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", **save)
    return buffer.getvalue()


def png_bytes(array):
    ok, encoded = cv2.imencode(".png", array)
    assert ok
    return encoded.tobytes()


def write(folder, name, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (jpeg_bytes()[:-200], "truncated"),
    (b"this is a shopping list, not a photo", "not a decodable image"),
    (png_bytes(np.zeros((1, 1, 3), np.uint8)), "too small"),
])
def test_unusable_files_raise_with_reason(tmp_path, data, reason):
    path = write(tmp_path, "M_P_I.jpg", data)
    with pytest.raises(ImageError, match=reason) as error:
        read_image(path)
    assert error.value.path == path


def test_png_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[5:15, 5:15] = (0, 0, 255, 255)  # opaque red square (BGRA), transparent elsewhere
    image = read_image(write(tmp_path, "a.png", png_bytes(rgba)))
    assert tuple(image[0, 0]) == (255, 255, 255) and tuple(image[10, 10]) == (255, 0, 0)


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path):
    deep = np.full((16, 16, 3), 65535, np.uint16)
    deep[:8] = 256 * 100
    image = read_image(write(tmp_path, "d.png", png_bytes(deep)))
    assert image.dtype == np.uint8 and image[0, 0, 0] == 100 and image[-1, -1, 0] == 255


def test_greyscale_becomes_three_channels(tmp_path):
    image = read_image(write(tmp_path, "g.png", png_bytes(np.full((16, 16), 77, np.uint8))))
    assert image.shape == (16, 16, 3) and (image == 77).all()


def test_cmyk_jpeg_decodes_to_rgb(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(GOOD).convert("CMYK").save(buffer, "JPEG", quality=95)
    image = read_image(write(tmp_path, "c.jpg", buffer.getvalue()))
    assert image.shape == GOOD.shape
    assert np.abs(image.astype(int) - GOOD).mean() < 12


def test_exif_orientation_is_honoured(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image = read_image(write(tmp_path, "r.jpg", jpeg_bytes(exif=exif.tobytes(), quality=95)))
    assert image.shape == (30, 40, 3)


def test_photo_over_the_pixel_limit_is_refused(tmp_path):
    path = write(tmp_path, "big.png", png_bytes(np.zeros((400, 400, 3), np.uint8)))
    with pytest.raises(ImageError, match="limit"):
        read_image(path, max_pixels=100_000)


@pytest.mark.parametrize("name", ["M 1_P 2_I 3.jpg", "Müller_Größe_Ä.jpg", "M1_P1_I1.JPG", "M1_P1_I1.JpEg"])
def test_unusual_but_valid_names_are_read(settings, name):
    write(settings.raw_img, name, jpeg_bytes())
    table = stages.make_labels(settings)
    assert table["file"].tolist() == [name]
    stages.preprocess(settings)
    assert read_image(settings.img / name).shape == GOOD.shape


def test_names_differing_only_in_case_are_two_photos(settings):
    write(settings.raw_img, "M1_P1_I1.jpg", jpeg_bytes())
    write(settings.raw_img, "M1_P1_I1.JPG", jpeg_bytes())
    assert len(stages.make_labels(settings)) == 2
    stages.preprocess(settings)
    assert {p.name for p in settings.img.iterdir() if not p.name.startswith(".")} >= {"M1_P1_I1.jpg", "M1_P1_I1.JPG"}


def test_symbolic_links_inside_are_used_and_outside_refused(settings, tmp_path):
    photo = write(settings.raw_img, "M1_P1_I1.jpg", jpeg_bytes())
    (settings.raw_img / "M1_P1_I2.jpg").symlink_to(photo.name)
    outside = write(tmp_path / "elsewhere", "secret.jpg", jpeg_bytes())
    (settings.raw_img / "M2_P1_I1.jpg").symlink_to(outside)
    table = stages.make_labels(settings)
    assert table["file"].tolist() == ["M1_P1_I1.jpg", "M1_P1_I2.jpg"]
    rejected = load_rejected(settings)
    assert rejected["file"].tolist() == ["M2_P1_I1.jpg"] and "outside" in rejected["reason"][0]


def test_bad_photos_are_listed_and_counts_add_up(settings):
    write(settings.raw_img, "M1_P1_I1.jpg", jpeg_bytes())
    write(settings.raw_img, "M1_P1_I2.jpg", b"")
    write(settings.raw_img, "M1_P1_I3.jpg", b"<html>not a photo</html>")
    listed = stages.make_labels(settings)
    rejected = stages.preprocess(settings)
    assert sorted(rejected["file"]) == ["M1_P1_I2.jpg", "M1_P1_I3.jpg"]
    assert len(listed) == 1 + len(load_rejected(settings))


def test_a_data_set_of_only_bad_photos_stops_clearly(settings):
    write(settings.raw_img, "M1_P1_I1.jpg", b"")
    write(settings.raw_img, "M1_P1_I2.jpg", b"junk")
    stages.make_labels(settings)
    with pytest.raises(ValueError, match="all 2 photos .* were rejected"):
        stages.preprocess(settings)


def test_features_before_stage_01_name_it_and_write_nothing(settings):
    write(settings.raw_img, "M1_P1_I1.jpg", jpeg_bytes())
    stages.make_labels(settings)
    with pytest.raises(FileNotFoundError, match="run 01_img_preprocess.py first"):
        stages.extract_features(settings)
    assert not settings.path("features").exists()


def test_features_of_only_unreadable_photos_list_them_and_write_nothing(settings):
    for name in ("M1_P1_I1.jpg", "M1_P1_I2.jpg"):
        write(settings.raw_img, name, jpeg_bytes())
    stages.make_labels(settings)
    stages.preprocess(settings)
    for name in ("M1_P1_I1.jpg", "M1_P1_I2.jpg"):
        write(settings.img, name, b"broken after stage 01")
    with pytest.raises(ValueError, match="none of the 2 photos .* could be read: the reasons are in"):
        stages.extract_features(settings)
    assert not settings.path("features").exists() and not settings.path("feature_files").exists()
    assert sorted(load_rejected(settings)["file"]) == ["M1_P1_I1.jpg", "M1_P1_I2.jpg"]
    with pytest.raises(FileNotFoundError, match="Run 03_extract_features.py first"):
        handoff.load_features(settings)


def test_an_empty_data_folder_stops_clearly(settings):
    settings.raw_img.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no photos"):
        stages.make_labels(settings)


ID = st.text(st.characters(blacklist_characters="_/\\\x00", blacklist_categories=("Cs",)), min_size=1, max_size=12)


@given(model=ID.filter(lambda s: s not in (".", "..")), product=ID, image=ID.filter(lambda s: not s.endswith(".") and "." not in s))
def test_name_parsing_round_trips(model, product, image):
    ids = labels.parse_name(f"{model}_{product}_{image}.jpg")
    assert ids == {"model_id": model, "product_id": product, "image_id": image}


@given(st.text(st.characters(blacklist_characters="_/\x00", blacklist_categories=("Cs",)), max_size=30))
def test_names_without_two_underscores_never_parse(stem):
    assert labels.parse_name(f"{stem}.jpg") is None
