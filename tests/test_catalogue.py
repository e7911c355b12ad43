"""The daily-batches benchmark in its quick mode, on one generated protocol, and how batches are drawn."""
import numpy as np
import pytest

from benchmarks import catalogue
from prodcluster.fileio import read_json


def test_a_fifth_of_the_models_arrive_whole_and_the_catalogue_holds_seven_tenths():
    models = np.repeat([f"M{index}" for index in range(10)], 10)
    days = catalogue.arrival_days(models, seed=0)
    assert (days == 0).mean() == pytest.approx(catalogue.CATALOGUE_SHARE, abs=0.01)
    assert set(days) == {0, 1, 2, 3}
    whole = [model for model in np.unique(models) if (days[models == model] > 0).all()]
    assert len(whole) == 2
    assert np.array_equal(days, catalogue.arrival_days(models, seed=0))


@pytest.mark.slow
def test_quick_run_records_every_batch_and_rebuilds_the_table(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{catalogue.START}\nold\n{catalogue.END}\ntail\n")
    record = catalogue.main(["--quick", "--protocols", "studio_tune", "--root", str(tmp_path / "work"),
                             "--results", str(tmp_path / "catalogue.json"), "--readme", str(readme),
                             "--join-quantiles", "0.02,0.05"])
    assert read_json(tmp_path / "catalogue.json") == record
    runs = record["protocols"][0]["runs"]
    assert [run["join_quantile"] for run in runs] == [0.02, 0.05]
    for row in runs[0]["batches"]:
        assert {"ari_incremental", "ari_full", "ari_bound", "k_pred", "k_true", "seconds", "ids_kept"} <= set(row)
        assert row["ids_kept"] == 1.0
    assert {"git_commit", "command", "machine", "seconds_per_1000"} <= set(record)
    text = readme.read_text()
    assert "old" not in text and "| studio_tune | tune | 0.02 | 3 |" in text and "tail" in text


def test_the_bound_sends_known_models_to_their_most_common_cluster_and_opens_one_per_new_model():
    models = np.array(["A", "A", "A", "B", "B", "A", "B", "C", "C"])
    days = np.array([0, 0, 0, 0, 0, 1, 2, 1, 3])
    first = np.array([0, 0, 1, 1, 1])
    assert catalogue.best_keeping(models, days, first).tolist() == [0, 0, 1, 1, 1, 0, 1, 2, 2]
