"""The protocol suite end to end in its quick mode, on one generated protocol."""
import json

import pytest

from benchmarks import suite

RECORD_KEYS = {"protocol", "role", "k_error", "thin_iou_mean", "mask_iou_mean", "ari_all", "k_pred", "k_true",
               "preprocess", "method", "git_commit", "command", "machine", "features", "probe_ari", "variation"}
SUMMARY_KEYS = {"protocols", "worst_margin_vs_reference", "worst_removal_delta", "max_abs_k_error", "git_commit",
                "command", "machine"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("suite")
    readme = folder / "README.md"
    readme.write_text(f"# x\n{suite.START}\nold\n{suite.END}\ntail\n")
    args = ["--quick", "--protocols", "studio_tune", "--root", str(folder / "work"),
            "--results", str(folder / "results"), "--readme", str(readme)]
    return suite.main(args), folder


@pytest.mark.slow
def test_every_method_and_preprocess_gets_a_record(quick_run):
    _, folder = quick_run
    records = [json.loads(path.read_text()) for path in (folder / "results").glob("studio_tune__*.json")]
    assert {(r["method"], r["preprocess"]) for r in records} >= {
        ("ours", suite.DEFAULT_PREPROCESS), ("ours", "none"), ("reference", suite.DEFAULT_PREPROCESS),
        ("ours_no_finetune", suite.DEFAULT_PREPROCESS), ("reference_no_finetune", suite.DEFAULT_PREPROCESS)}
    for record in records:
        assert RECORD_KEYS <= set(record), RECORD_KEYS - set(record)
        assert record["role"] == "tune" and record["k_error"] == pytest.approx(record["k_pred"] / record["k_true"] - 1,
                                                                                abs=1e-4)
        assert 0 < record["thin_iou_mean"] <= 1
        assert record["features"] == "efficientnet_lite0" and -1 <= record["probe_ari"] <= 1


@pytest.mark.slow
def test_summary_has_a_row_per_protocol_and_the_table_lands_in_the_readme(quick_run):
    summary, folder = quick_run
    assert SUMMARY_KEYS <= set(summary)
    (row,) = summary["protocols"]
    assert row["variation"] == list(suite.VARIATIONS["studio"])
    assert row["protocol"] == "studio_tune" and row["removal_delta"] == pytest.approx(
        row["ari_default"] - row["ari_none"], abs=1e-4)
    assert json.loads((folder / "results" / "suite.json").read_text())["protocols"] == summary["protocols"]
    text = (folder / "README.md").read_text()
    assert "old" not in text and "| studio_tune | tune |" in text and text.endswith("tail\n")


def test_other_features_go_to_their_own_records_and_leave_the_readme_alone():
    args = suite.parse_args(["--backbone", "efficientnet_lite2", "--test-time-flip"])
    assert args.features == "efficientnet_lite2+flip" and args.readme is None
    assert args.results.name == "suite_efficientnet_lite2+flip"
    assert suite.parse_args([]).results == suite.RESULTS
    assert suite.parse_args(["--loss", "arcface"]).results.name == "suite_efficientnet_lite0+arcface"
    assert (suite.parse_args(["--augmentations", "seller", "--preprocess", "grabcut"]).results.name
            == "suite_efficientnet_lite0+seller_augmentations+01grabcut")
    joined = suite.parse_args(["--backbone", "efficientnet_lite0+efficientnet_lite1"])
    assert joined.results.name == "suite_efficientnet_lite0+efficientnet_lite1" and joined.readme is None
    with pytest.raises(SystemExit):
        suite.parse_args(["--backbone", "efficientnet_lite0+resnet"])


def test_unknown_protocols_are_refused_by_name():
    with pytest.raises(SystemExit):
        suite.parse_args(["--protocols", "studio_tune,nope"])


def test_a_partial_run_keeps_the_other_protocols_records(tmp_path):
    earlier = {"protocol": "scene", "method": "ours", "preprocess": "auto", "git_commit": "old"}
    stale = {"protocol": "demo", "method": "ours", "preprocess": "auto", "git_commit": "old"}
    for entry in (earlier, stale):
        (tmp_path / f"{entry['protocol']}__ours__auto.json").write_text(json.dumps(entry))
    (tmp_path / "suite.json").write_text("{}")
    fresh = {"protocol": "demo", "method": "ours", "preprocess": "auto", "git_commit": "new"}
    assert suite.with_earlier_records([fresh], tmp_path) == [fresh, earlier]
