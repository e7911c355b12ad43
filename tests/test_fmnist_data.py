"""Tests of the Fashion-MNIST set writers, on tiny generated idx files and (when installed) the real data."""
import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks import fmnist_data as fm
from prodcluster.fileio import read_image

NAME = re.compile(r"^(?P<model>[CI]\d+)_(?P<product>[a-z]+\d{5}(r\d{2})?)_(?P<image>\d+)\.png$")
PER_CLASS_TRAIN = 4
PER_CLASS_TEST = 2


def idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def tiny_split(per_class, rng):
    """Dark 28x28 frames holding one bright random rectangle each, labels cycling 0..9."""
    labels = np.tile(np.arange(10, dtype=np.uint8), per_class)
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    for image in images:
        top, left = rng.integers(3, 9, size=2)
        image[top:top + 16, left:left + 12] = rng.integers(60, 256, size=(16, 12))
    return images, labels


def write_source(folder, train, test, gzipped=True):
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if gzipped:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    rng = np.random.default_rng(0)
    train = tiny_split(PER_CLASS_TRAIN, rng)
    test = tiny_split(PER_CLASS_TEST, rng)
    return write_source(tmp_path_factory.mktemp("tiny"), train, test), train, test


def parsed_names(folder):
    names = sorted(p.name for p in Path(folder).iterdir())
    matches = [NAME.match(n) for n in names]
    assert all(matches), [n for n, m in zip(names, matches) if not m]
    return matches


def models_in(folder):
    return {m["model"] for m in parsed_names(folder)}


def test_idx_parser_reads_plain_and_gzipped_files_alike(tiny, tmp_path):
    source, train, test = tiny
    plain = write_source(tmp_path / "plain", train, test, gzipped=False)
    for split, (images, labels) in (("train", train), ("test", test)):
        got_images, got_labels = fm.load_split(plain, split)
        np.testing.assert_array_equal(got_images, images)
        np.testing.assert_array_equal(got_labels, labels)
        np.testing.assert_array_equal(fm.load_split(source, split)[0], images)


@pytest.mark.parametrize("data, message", [
    (b"\x00\x01\x08\x01" + b"\x00" * 8, "bad magic"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x02" + b"\x00" * 8, "not unsigned byte"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated"),
    (idx_bytes(np.zeros((2, 28, 28)))[:-5], "declares shape"),
])
def test_idx_parser_rejects_broken_files_naming_them(tmp_path, data, message):
    path = tmp_path / "broken-idx"
    path.write_bytes(gzip.compress(data))
    with pytest.raises(ValueError, match=message) as error:
        fm.read_idx(path)
    assert str(path) in str(error.value)


def test_missing_file_error_names_the_file_and_both_remedies(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        fm.load_split(tmp_path, "test")
    text = str(error.value)
    assert "t10k-images-idx3-ubyte" in text
    assert "apt-get install dataset-fashion-mnist" in text and "--source" in text


def test_load_split_rejects_wrong_image_size_and_label_count(tmp_path):
    small = (np.zeros((3, 10, 10)), np.zeros(3))
    write_source(tmp_path / "small", small, small)
    with pytest.raises(ValueError, match="N x 28 x 28"):
        fm.load_split(tmp_path / "small", "train")
    uneven = (np.zeros((3, 28, 28)), np.zeros(2))
    write_source(tmp_path / "uneven", uneven, uneven)
    with pytest.raises(ValueError, match="expected 3 labels"):
        fm.load_split(tmp_path / "uneven", "test")
    with pytest.raises(ValueError, match="split"):
        fm.load_split(tmp_path / "uneven", "validation")


def test_write_plain_names_inverts_and_keeps_size(tiny, tmp_path):
    _, (images, labels), _ = tiny
    indices = [3, 17, 25]
    result = fm.write_plain(images, labels, tmp_path / "set", indices)
    assert result.count == 3 and result.written
    for match in parsed_names(tmp_path / "set"):
        index = int(match["product"][len("train"):])
        assert match["model"] == f"C{labels[index]:02d}" and match["image"] == "0"
        photo = read_image(tmp_path / "set" / match.string)
        assert photo.shape == (28, 28, 3)
        np.testing.assert_array_equal(photo[..., 1], 255 - images[index])
        assert (photo[0, 0] == 255).all()  # white background, dark product


def test_write_plain_upscales_on_request(tiny, tmp_path):
    _, (images, labels), _ = tiny
    fm.write_plain(images, labels, tmp_path, [0], image_size=56)
    photo = read_image(next(tmp_path.iterdir()))
    assert photo.shape == (56, 56, 3) and (photo[0, 0] == 255).all()


def test_write_plain_skips_up_to_date_folder_and_guards_stale_photos(tiny, tmp_path):
    _, (images, labels), _ = tiny
    folder = tmp_path / "set"
    fm.write_plain(images, labels, folder, [0, 1, 2])
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert not fm.write_plain(images, labels, folder, [0, 1, 2]).written
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    with pytest.raises(ValueError, match="overwrite"):
        fm.write_plain(images, labels, folder, [0, 1])
    assert fm.write_plain(images, labels, folder, [0, 1], overwrite=True).written
    assert len(list(folder.iterdir())) == 2


@pytest.mark.parametrize("indices, message", [([], "empty"), ([0, 0], "repeat"), ([999], "indices must lie")])
def test_write_plain_rejects_bad_indices(tiny, tmp_path, indices, message):
    _, (images, labels), _ = tiny
    with pytest.raises(ValueError, match=message):
        fm.write_plain(images, labels, tmp_path, indices)


def test_make_known_holds_only_known_classes_seeded(tiny, tmp_path):
    source = tiny[0]
    result = fm.make_known(source, tmp_path / "a", per_class=2, seed=1)
    assert result.folder == tmp_path / "a" / "raw_img" / "fmnist_known" and result.count == 14
    models = [m["model"] for m in parsed_names(result.folder)]
    assert sorted(set(models)) == [f"C{c:02d}" for c in range(7)]
    assert all(models.count(m) == 2 for m in set(models))
    again = fm.make_known(source, tmp_path / "b", per_class=2, seed=1).folder
    other = fm.make_known(source, tmp_path / "c", per_class=2, seed=2).folder
    names = sorted(p.name for p in result.folder.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert names != sorted(p.name for p in other.iterdir())


@pytest.mark.parametrize("kwargs, message", [
    ({"per_class": PER_CLASS_TRAIN + 1}, "per_class"),
    ({"known": (3, 3)}, "distinct"),
    ({"known": (10,)}, "0..9"),
])
def test_make_known_rejects_bad_settings(tiny, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fm.make_known(tiny[0], tmp_path, **kwargs)


def test_make_test_writes_the_whole_split_with_all_classes(tiny, tmp_path):
    result = fm.make_test(tiny[0], tmp_path)
    assert result.folder == tmp_path / "raw_img" / "fmnist_test" and result.count == 10 * PER_CLASS_TEST
    assert models_in(result.folder) == {f"C{c:02d}" for c in range(10)}


def test_make_instances_splits_models_disjointly(tiny, tmp_path):
    known, test = fm.make_instances(tiny[0], tmp_path, n_models=20, photos_per_model=3, known_fraction=0.6)
    assert (known.count, test.count) == (12 * 3, 8 * 3)
    known_matches, test_matches = parsed_names(known.folder), parsed_names(test.folder)
    assert not models_in(known.folder) & models_in(test.folder)
    assert len(models_in(known.folder) | models_in(test.folder)) == 20
    items = {}
    for match in known_matches + test_matches:
        items.setdefault(match["model"], set()).add(match["product"][:10])
    assert all(len(sources) == 1 for sources in items.values())
    assert len({next(iter(s)) for s in items.values()}) == 20  # distinct source items
    _, labels = fm.load_split(tiny[0], "train")
    classes = [labels[int(next(iter(s))[len("train"):])] for s in items.values()]
    assert np.bincount(classes, minlength=10).tolist() == [2] * 10


def test_instance_photos_are_coloured_varied_and_light_backed(tiny, tmp_path):
    known, _ = fm.make_instances(tiny[0], tmp_path, n_models=10, photos_per_model=4, image_size=48)
    model = min(models_in(known.folder))
    photos = [read_image(p) for p in sorted(known.folder.glob(f"{model}_*"))]
    assert len(photos) == 4 and all(p.shape == (48, 48, 3) for p in photos)
    for photo in photos:
        corners = photo[[0, 0, -1, -1], [0, -1, 0, -1]]
        assert corners.min() >= fm.BACKGROUND_RANGE[0] - 1
        assert np.ptp(photo.astype(int), axis=2).max() > 10  # tinted, not grey
        assert photo.min() < corners.min() - 40  # a visible product
    assert len({p.tobytes() for p in photos}) == 4


def test_make_instances_is_deterministic(tiny, tmp_path):
    def snapshot(root, seed):
        sets = fm.make_instances(tiny[0], root, n_models=10, photos_per_model=2, seed=seed)
        return {p.name: p.read_bytes() for s in sets for p in s.folder.iterdir()}

    first = snapshot(tmp_path / "a", 5)
    assert first == snapshot(tmp_path / "b", 5)
    assert first != snapshot(tmp_path / "c", 6)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_models": 1}, "n_models"),
    ({"n_models": 10 * PER_CLASS_TRAIN + 1}, "distinct items"),
    ({"photos_per_model": 0}, "photos_per_model"),
    ({"known_fraction": 1.0}, "known_fraction"),
    ({"n_models": 3, "known_fraction": 0.1}, "one set empty"),
    ({"image_size": 20}, "image_size"),
])
def test_make_instances_rejects_bad_settings(tiny, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fm.make_instances(tiny[0], tmp_path, **kwargs)


def test_duplicate_items_never_become_two_models(tmp_path):
    images, labels = tiny_split(2, np.random.default_rng(1))
    images[labels == 4] = images[np.flatnonzero(labels == 4)[0]]
    source = write_source(tmp_path / "dup", (images, labels), (images, labels))
    with pytest.raises(ValueError, match="class 4 has only 1 distinct"):
        fm.make_instances(source, tmp_path, n_models=20)


def test_cli_writes_chosen_sets_and_reports_errors(tiny, tmp_path, capsys):
    assert fm.main(["--source", str(tiny[0]), "--root", str(tmp_path), "--sets", "test"]) == 0
    out = capsys.readouterr().out
    assert "fmnist_test: 20 photos, written" in out
    assert [p.name for p in (tmp_path / "raw_img").iterdir()] == ["fmnist_test"]
    assert fm.main(["--source", str(tmp_path / "nowhere"), "--root", str(tmp_path)]) == 1
    assert "apt-get install" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        fm.main(["--help"])
    assert done.value.code == 0


needs_real_data = pytest.mark.skipif(not Path(fm.DEFAULT_SOURCE).is_dir(),
                                     reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


@needs_real_data
def test_real_splits_have_the_published_sizes():
    for split, count in (("train", 60_000), ("test", 10_000)):
        images, labels = fm.load_split(fm.DEFAULT_SOURCE, split)
        assert images.shape == (count, 28, 28) and images.dtype == np.uint8
        assert np.bincount(labels).tolist() == [count // 10] * 10
        assert images[:, 0, 0].max() < 64  # light product on a dark background before inversion


@needs_real_data
def test_real_known_set_holds_only_known_classes(tmp_path):
    result = fm.make_known(fm.DEFAULT_SOURCE, tmp_path, per_class=3)
    models = [m["model"] for m in parsed_names(result.folder)]
    assert result.count == 21 and sorted(set(models)) == [f"C{c:02d}" for c in range(7)]


@needs_real_data
def test_real_instance_sets_share_no_model(tmp_path):
    known, test = fm.make_instances(fm.DEFAULT_SOURCE, tmp_path, n_models=20, photos_per_model=2)
    assert (known.count, test.count) == (20, 20)
    assert not models_in(known.folder) & models_in(test.folder)
