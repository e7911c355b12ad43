"""Files that could run code or write outside the work folder are refused, whatever they hold.

(The .pth weight reader's refusal of crafted pickles is tested in test_torch_weights.py.)
"""
import os

import keras
import numpy as np
import pytest

from prodcluster import features, handoff, labels, pipeline, stages
from prodcluster.demo import make_demo
from prodcluster.fileio import load_npy, write_json, write_lines


class RunsCode:
    """Unpickling this calls os.system: the payload of a hostile file."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_npy_holding_a_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "features.npy"
    np.save(path, np.array([RunsCode(f"touch {marker}")], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="features.npy is not a plain numeric array"):
        load_npy(path)
    assert not marker.exists()


def test_stage_04_refuses_pickled_features(settings, tmp_path):
    marker = tmp_path / "ran"
    settings.data.mkdir(parents=True)
    np.save(settings.path("features"), np.array([RunsCode(f"touch {marker}")], dtype=object),
            allow_pickle=True)
    write_lines(settings.path("feature_files"), ["a_1_1.jpg"])
    with pytest.raises(ValueError, match="not a plain numeric array"):
        stages.cluster(settings)
    assert not marker.exists()


def test_network_with_code_inside_is_refused_in_safe_mode(settings, tmp_path):
    marker = tmp_path / "ran"
    command = f"touch {marker}"
    inputs = keras.Input((settings.input_size, settings.input_size, 3))
    outputs = keras.layers.Lambda(lambda x: x + os.system(command) * 0.0, name="combined")(inputs)
    path = settings.finetuned_model
    path.parent.mkdir(parents=True)
    keras.Model(inputs, outputs).save(path)
    marker.unlink(missing_ok=True)  # saving traced the lambda once
    write_json(path.parent / "classes.json", {"backbone": settings.backbone, "image_size": settings.input_size})
    with pytest.raises(ValueError, match="safe_mode"):
        features.feature_network(settings)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["._1_1.jpg", ".._1_1.jpg"])
def test_model_ids_that_name_a_parent_folder_do_not_parse(name):
    assert labels.parse_name(name) is None


@pytest.mark.parametrize("listed", ["../../escape_1_1.jpg", "sub/../../dir_1_1.jpg", "/tmp/abs_1_1.jpg"])
def test_stage_01_refuses_listed_paths_leaving_the_photo_folder(settings, listed):
    make_demo(settings.raw_img, n_models=1, photos_per_model=2, seed=1)
    stages.make_labels(settings)
    table = handoff.load_labels(settings)
    table.loc[0, "file"] = listed
    table.to_csv(settings.path("labels"), index=False)
    with pytest.raises(ValueError, match="no absolute path or '..'"):
        stages.preprocess(settings)


def test_odd_names_write_only_inside_the_configured_folders(settings, tmp_path):
    make_demo(settings.raw_img, n_models=2, photos_per_model=1, seed=1)
    for odd, photo in zip(["-rf _ü_1.JPG", "...._x_1.jpg"], sorted(settings.raw_img.iterdir())):
        photo.rename(settings.raw_img / odd)
    (settings.raw_img / ".._1_1.jpg").write_bytes((settings.raw_img / "...._x_1.jpg").read_bytes())
    listed = stages.make_labels(settings)
    assert listed["file"].tolist() == ["-rf _ü_1.JPG"]  # names with a leading dot are hidden files, passed over
    for name in ("01", "split"):
        pipeline.run_stage(name, settings)
    top = {path.relative_to(tmp_path).parts[0] for path in tmp_path.rglob("*")}
    assert top == {"raw_img", "img", "data", "training_img"}
    trained = sorted(str(path.relative_to(settings.train_img)) for path in settings.train_img.rglob("*.*"))
    assert all(len(part.split(os.sep)) == 2 for part in trained) and trained
