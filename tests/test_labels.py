import pytest

from prodcluster.fileio import read_csv
from prodcluster.labels import BadFileNames, make_labels, parse_name
from prodcluster.rejected import load_rejected


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
    assert settings.data_file("image_list").read_text().splitlines() == table["file"].tolist()
    assert settings.data_file("labels_true").read_text().splitlines() == ["A", "A", "B"]
    assert read_csv(settings.data_file("labels")).columns.tolist() == ["file", "model_id", "product_id", "image_id"]


def test_bad_names_stop_the_stage_by_name(settings):
    _touch(settings.raw_img, "A_1_1.jpg", "holiday.jpg")
    with pytest.raises(BadFileNames, match="holiday.jpg"):
        make_labels(settings)
    assert not settings.data_file("labels").exists()


def test_bad_names_skipped_on_request_are_listed(settings):
    _touch(settings.raw_img, "A_1_1.jpg", "holiday.jpg")
    table = make_labels(settings, skip_bad_names=True)
    assert table["file"].tolist() == ["A_1_1.jpg"]
    rejected = load_rejected(settings)
    assert rejected[["file", "stage"]].values.tolist() == [["holiday.jpg", "00"]]


def test_missing_and_empty_folders_are_explained(settings):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_labels(settings)
    settings.raw_img.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no photos"):
        make_labels(settings)
