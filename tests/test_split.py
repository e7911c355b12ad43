import numpy as np
import pytest

from prodcluster.fileio import save_image
from prodcluster.split import CALIBRATION, HELD_OUT, KNOWN, split_models
from prodcluster.stages import make_labels, make_training_folders


def test_split_is_by_model_seeded_and_sized():
    models = [f"M{i}" for i in range(10) for _ in range(3)]
    first = split_models(models, 0.3, seed=1)
    assert len(first) == 10 and (first["role"] == KNOWN).sum() == 3
    assert first.equals(split_models(models, 0.3, seed=1))
    assert not first.equals(split_models(models, 0.3, seed=2))


def test_bad_fraction_is_refused():
    with pytest.raises(ValueError, match="train fraction"):
        split_models(["a"], 1.5, seed=0)


def test_held_out_models_never_reach_training_folders(settings):
    photo = np.full((16, 16, 3), 200, np.uint8)
    for model in range(6):
        for image in range(3):
            save_image(settings.raw_img / f"M{model}_P0_I{image}.png", photo)
            save_image(settings.img / f"M{model}_P0_I{image}.png", photo)
    make_labels(settings)
    split, linked = make_training_folders(settings)
    known = set(split.loc[split["role"] == KNOWN, "model_id"])
    held_out = set(split.loc[split["role"] == HELD_OUT, "model_id"])
    folders = {path.name for path in settings.train_img.iterdir()}
    assert folders == known and not folders & held_out
    assert linked == 3 * len(known)
    for folder in settings.train_img.iterdir():
        assert all(path.name.startswith(folder.name + "_") for path in folder.iterdir())


def test_calibration_models_come_out_of_the_known_ones_and_never_empty_them():
    models = [f"M{i}" for i in range(20)]
    plain = split_models(models, 0.5, seed=4)
    held = split_models(models, 0.5, seed=4, calibration_share=0.4)
    assert held["role"].value_counts().to_dict() == {HELD_OUT: 10, KNOWN: 6, CALIBRATION: 4}
    assert set(held.loc[held["role"] != HELD_OUT, "model_id"]) == set(plain.loc[plain["role"] == KNOWN, "model_id"])
    assert split_models(models, 0.5, seed=4, calibration_share=0.0).equals(plain)
    assert (split_models(models[:8], 1.0, seed=0, calibration_share=0.9)["role"] == KNOWN).sum() == 1
    too_few = split_models(models[:7], 1.0, seed=0, calibration_share=0.3)  # 2 would calibrate: none do
    assert (too_few["role"] == KNOWN).all()
    with pytest.raises(ValueError, match="calibration share"):
        split_models(models, 0.5, seed=0, calibration_share=-0.1)
