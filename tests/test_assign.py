"""New photos into an existing clustering: the rule on hand-made vectors, and stage 05 on a real run."""
import numpy as np
import pandas as pd
import pytest

from prodcluster import assign, pipeline
from prodcluster.demo import model_spec, write_listings
from prodcluster.fileio import read_csv, read_json


def unit(rows):
    rows = np.asarray(rows, dtype=float)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def catalogue():
    """Three tight clusters around three axes of 8-D space, labelled 0, 1 and 5 (numbers need not be dense)."""
    rng = np.random.default_rng(0)
    axes = np.eye(8)[:3]
    features = unit(np.repeat(axes, 10, axis=0) + rng.normal(0, 0.05, (30, 8)))
    return features, np.repeat([0, 1, 5], 10)


def test_the_thresholds_come_from_the_clusters_own_photos(catalogue):
    features, clusters = catalogue
    thresholds = assign.learn_thresholds(features, clusters)
    _, centre_rows = assign.centres(features, clusters)
    own = (features * centre_rows[np.repeat([0, 1, 2], 10)]).sum(axis=1)
    assert thresholds.join == pytest.approx(np.quantile(own, assign.JOIN_QUANTILE))
    assert 0.9 < thresholds.group < thresholds.join < 1.0
    with pytest.raises(ValueError, match="every cluster holds one photo"):
        assign.learn_thresholds(features[:3], [0, 1, 2])


def test_a_match_joins_and_strangers_group_into_new_clusters(catalogue):
    features, clusters = catalogue
    rng = np.random.default_rng(1)
    near_second = unit(np.eye(8)[1] + rng.normal(0, 0.05, (2, 8)))
    newcomers = unit(np.eye(8)[6] + rng.normal(0, 0.05, (3, 8)))
    loner = unit([np.eye(8)[7]])
    placed = assign.assign(features, clusters, np.vstack([near_second, newcomers, loner]),
                           assign.learn_thresholds(features, clusters))
    assert placed.joined.tolist() == [True, True, False, False, False, False]
    assert placed.clusters.tolist() == [1, 1, 6, 6, 6, 7]  # new clusters after the largest number, 5


def test_a_new_models_photos_of_later_days_join_the_cluster_its_first_photos_opened(catalogue):
    features, clusters = catalogue
    assert assign.learn_thresholds(features, clusters).first_opened == 6  # after the largest number, 5
    thresholds = assign.Thresholds(join=0.99, group=0.8, first_opened=6)
    first_day = unit([np.eye(8)[6] + 0.3 * np.eye(8)[7], np.eye(8)[6] - 0.3 * np.eye(8)[7]])
    opened = assign.assign(features, clusters, first_day, thresholds)
    assert opened.clusters.tolist() == [6, 6] and not opened.joined.any()
    catalogue_now = np.vstack([features, first_day]), np.concatenate([clusters, opened.clusters])
    second_day = unit([np.eye(8)[6] + 0.3 * np.eye(8)[5], np.eye(8)[4]])
    similarity_to_centre = second_day[0] @ unit([first_day.sum(axis=0)])[0]
    assert similarity_to_centre < thresholds.join  # too far to join by the centre rule ...
    placed = assign.assign(*catalogue_now, second_day, thresholds)
    assert placed.clusters.tolist() == [6, 7]  # ... yet it joins its model; the loner opens the next cluster
    assert placed.joined.tolist() == [True, False]
    stage_04_only = assign.Thresholds.from_dict({**thresholds.as_dict(), "first_opened_cluster": 7})
    assert assign.assign(*catalogue_now, second_day, stage_04_only).clusters.tolist() == [7, 8]
    recorded = {key: value for key, value in thresholds.as_dict().items() if key != "first_opened_cluster"}
    assert assign.Thresholds.from_dict({**recorded, "k_of_stage_04": 6}) == thresholds  # a record from before


@pytest.fixture
def clustered_shop(settings):
    """Stages 00 to 04 on 4 models' photos (plain features), ready for new photos."""
    settings = settings.replace(dataset="shop", use_finetuned=False, image_size=96)
    write_listings(settings.raw_img, [model_spec(index) for index in range(4)], [6] * 4, seed=0)
    for name in ("00", "01", "03", "04"):
        pipeline.run_stage(name, settings)
    return settings


def test_new_photos_join_their_models_clusters_or_open_new_ones_and_a_rerun_changes_nothing(clustered_shop,
                                                                                            tmp_path):
    settings = clustered_shop
    before = read_csv(settings.path("predictions"))
    folder = tmp_path / "monday"
    write_listings(folder, [model_spec(index) for index in (0, 1, 9)], [2, 2, 3], seed=1)  # model 9 is new
    (folder / "broken.jpg").write_bytes(b"not a photo")
    added = pipeline.assign_new_photos(settings, folder, "monday").set_index("file")
    assert len(added) == 8 and added.loc["monday/broken.jpg", "outcome"] == "rejected"
    after = read_csv(settings.path("predictions"))
    pd.testing.assert_frame_equal(after.iloc[:len(before)][["file", "cluster"]], before)  # numbers kept
    cluster_of = dict(zip(after["file"], after["cluster"].astype(int)))
    for model in ("M001", "M002"):
        old = {cluster_of[name] for name in before["file"] if name.startswith(model)}
        new = {cluster for name, cluster in cluster_of.items() if name.startswith(f"monday/{model}")}
        assert len(old) == 1 and new == old, model
    opened = {cluster_of[name] for name in added.index if name.startswith("monday/M010")}
    assert len(opened) == 1 and opened.pop() > int(before["cluster"].astype(int).max())
    rejected = read_csv(settings.path("rejected"))
    assert rejected.loc[rejected["file"] == "monday/broken.jpg", "stage"].tolist() == ["05"]
    assert read_json(settings.path("clustering"))["assignment"]["batches"][0]["photos"] == 7
    page = (settings.result / "report.html").read_text()
    assert page.count("new: added with batch monday") >= 1
    k = read_json(settings.path("clustering"))["k"]
    assert "k = 4 clusters, chosen by" in page and f"so there are now k = {k} clusters" in page
    assert "batch" in read_csv(settings.result / "clusters.csv")
    files = ("labels", "predictions", "features", "clustering", "added", "rejected")
    written = {name: settings.path(name).read_bytes() for name in files}
    assert pipeline.assign_new_photos(settings, folder, "monday").empty  # the same folder again
    assert {name: settings.path(name).read_bytes() for name in files} == written
    assert pipeline.run_stage("04", settings) is None  # the catalogue is stage 04's own: not clustered again


def test_a_photo_copied_by_a_stopped_run_is_added_and_a_clashing_name_refused(clustered_shop, tmp_path):
    settings = clustered_shop
    folder = tmp_path / "tuesday"
    first, second = write_listings(folder, [model_spec(0)], [2], seed=2)
    (settings.raw_img / "tuesday").mkdir()
    (settings.raw_img / "tuesday" / first.name).write_bytes(first.read_bytes())  # a run stopped after copying it
    added = pipeline.assign_new_photos(settings, folder, "tuesday")
    assert sorted(added["file"]) == [f"tuesday/{first.name}", f"tuesday/{second.name}"]
    assert set(added["outcome"]) <= {"joined", "new cluster"}
    second.write_bytes(first.read_bytes())  # another photo under a name already added
    again = pipeline.assign_new_photos(settings, folder, "tuesday")
    assert again["file"].tolist() == [str(second)] and again["outcome"].tolist() == ["rejected"]
    rejected = read_csv(settings.path("rejected")).set_index("file")
    assert rejected.loc[str(second), "reason"].startswith(f"another photo named tuesday/{second.name}")
    assert len(read_csv(settings.path("added"))) == 3
