"""Two full runs with the same seed give the same clusters, whatever the number of worker processes."""
import numpy as np

from prodcluster import pipeline
from prodcluster.demo import make_demo
from prodcluster.fileio import load_npy
from prodcluster.settings import Settings


def full_run(root, workers):
    settings = Settings(dataset="twice", root=root, seed=11, image_size=64, epochs=1, head_epochs=4,
                        batch_size=8, workers=workers)
    make_demo(settings.raw_img, n_models=4, photos_per_model=5, seed=2)
    pipeline.run_all(settings)
    return settings


def test_two_full_runs_give_identical_clusters(tmp_path):
    first, second = full_run(tmp_path / "first", workers=2), full_run(tmp_path / "second", workers=1)
    for name in ("labels_pred", "predictions", "feature_files"):
        assert first.data_file(name).read_text() == second.data_file(name).read_text(), name
    np.testing.assert_array_equal(load_npy(first.data_file("features")), load_npy(second.data_file("features")))
    for photo in sorted(first.img.glob("*.jpg")):
        assert photo.read_bytes() == (second.img / photo.name).read_bytes(), photo.name
    assert len(set(first.data_file("labels_pred").read_text().split())) > 1
