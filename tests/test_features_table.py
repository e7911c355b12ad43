"""The features table: each suite run's default ARI per protocol, its mean, and its gap to the default."""
import json

from benchmarks import features_table


def write_summary(results, features, scores, commit, confirm=True):
    rows = [{"protocol": name, "role": "tune", "ari_default": ari, "k_pred": 9, "k_true": 10}
            for name, ari in scores.items()]
    if confirm:
        rows.append({"protocol": "held_out", "role": "confirm", "ari_default": 0.1, "k_pred": 1, "k_true": 2})
    folder = results / ("suite" if features == "lite0" else f"suite_{features}")
    folder.mkdir()
    (folder / "suite.json").write_text(json.dumps({"features": features, "protocols": rows,
                                                   "record_commits": [commit]}))


def test_rows_show_every_tune_protocol_their_mean_and_their_gap_to_the_default_where_both_ran(tmp_path):
    write_summary(tmp_path, "lite0+flip", {"a": 0.5}, "bbb")
    write_summary(tmp_path, "lite0", {"a": 0.9, "b": 0.7}, "aaa")
    table = features_table.markdown(features_table.load_summaries(tmp_path)).splitlines()
    assert table[0] == "| features | a | b | mean (protocols) | vs default (protocols) | record commits |"
    assert table[2] == "| lite0 | 0.900 (9/10) | 0.700 (9/10) | 0.800 (2) | +0.000 (2) | aaa |"
    assert table[3] == "| lite0+flip | 0.500 (9/10) | - | 0.500 (1) | -0.400 (1) | bbb |"


def test_the_confirm_table_holds_only_the_rows_that_ran_confirm_protocols(tmp_path):
    write_summary(tmp_path, "lite0", {"a": 0.9}, "aaa")
    write_summary(tmp_path, "lite1", {"a": 0.8}, "ccc", confirm=False)
    text = features_table.tables(features_table.load_summaries(tmp_path))
    tune, confirm = text.split("on the `confirm` protocols:")
    assert "| lite1 | 0.800 (9/10) |" in tune and "held_out" not in tune
    assert "| lite0 | 0.100 (1/2) | 0.100 (1) | +0.000 (1) | aaa |" in confirm and "lite1" not in confirm
