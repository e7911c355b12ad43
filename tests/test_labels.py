import pytest

from prodcluster.fileio import read_csv
from prodcluster.handoff import load_rejected
from prodcluster.labels import parse_name
from prodcluster.stages import make_labels


def _touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


@pytest.mark.parametrize("name, expected", [
    ("M01_P02_I03.jpg", ("M01", "P02", "I03")),
    ("12_345_6789.PNG", ("12", "345", "6789")),
    ("a_b_c_d.jpeg", ("a", "b", "c_d")),
])
def test_parse_good_names(name, expected):
    ids = parse_name(name)
    assert (ids["model_id"], ids["product_id"], ids["image_id"]) == expected


@pytest.mark.parametrize("name", ["M01_P02.jpg", "photo.jpg", "_P02_I03.jpg", "M01__I03.jpg"])
def test_parse_bad_names(name):
    assert parse_name(name) is None


def test_labels_sorted_and_written(settings):
    _touch(settings.raw_img, "B_2_1.jpg", "A_1_2.PNG", "A_1_1.jpeg", "notes.txt")
    table = make_labels(settings)
    assert table["file"].tolist() == ["A_1_1.jpeg", "A_1_2.PNG", "B_2_1.jpg"]
    assert settings.path("image_list").read_text().splitlines() == table["file"].tolist()
    assert settings.path("labels_true").read_text().splitlines() == ["A", "A", "B"]
    assert read_csv(settings.path("labels")).columns.tolist() == ["file", "model_id", "product_id", "image_id"]


def test_any_name_in_any_sub_folder_is_listed_and_named_ones_are_labelled(settings):
    _touch(settings.raw_img, "A_1_1.jpg", "holiday.jpg", ".hidden.jpg")
    _touch(settings.raw_img / "shop 2" / "autumn", "B_7_2.png", "IMG 0001.JPG")
    _touch(settings.raw_img / ".cache", "C_1_1.jpg")
    table = make_labels(settings)
    assert table["file"].tolist() == ["A_1_1.jpg", "holiday.jpg", "shop 2/autumn/B_7_2.png",
                                      "shop 2/autumn/IMG 0001.JPG"]
    assert table["model_id"].tolist() == ["A", "", "B", ""]
    assert settings.path("labels_true").read_text().split("\n")[:4] == ["A", "", "B", ""]
    assert load_rejected(settings).empty


def test_missing_and_empty_folders_are_explained(settings):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_labels(settings)
    settings.raw_img.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no photos"):
        make_labels(settings)
