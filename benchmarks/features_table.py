"""The suite's default pipeline with each measured set of features, side by side.

Each `python -m benchmarks.suite` run with other features than the defaults (`--backbone`,
`--test-time-flip`, `--loss`) keeps its records in benchmarks/results/suite_<features>/. This
reads every suite*/suite.json and rebuilds the README's features tables: the default ARI (and
k) on each `tune` protocol, then on each `confirm` protocol for the rows that ran them, the
mean over the protocols each row ran, its mean difference to the default features on those
protocols, and the commits the records come from, since the rows need not come from one run.

Run `python -m benchmarks.features_table`.
"""
import argparse
import json
from pathlib import Path

from benchmarks.run_facts import replace_block

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
START, END = "<!-- features:start -->", "<!-- features:end -->"


def load_summaries(results):
    """{features: suite summary} of every suite*/suite.json under `results`, the default suite first."""
    paths = sorted(Path(results).glob("suite*/suite.json"), key=lambda path: (path.parent.name != "suite", path))
    summaries = [json.loads(path.read_text()) for path in paths]
    return {summary["features"]: summary for summary in summaries}


def tables(summaries):
    """The `tune` table the defaults are chosen on, then the `confirm` one, for the rows that ran it."""
    parts = []
    for role in ("tune", "confirm"):
        parts += [f"Default ARI (k pred / k true) on the `{role}` protocols:", "", markdown(summaries, role), ""]
    return "\n".join(parts + ["Produced by `python -m benchmarks.features_table` from the suite runs named in "
                              "each folder's suite.json."])


def markdown(summaries, role="tune"):
    """One row per features: the ARI on each protocol, the mean over the protocols the row ran, and
    the mean difference to the default (the first row) over the protocols both ran."""
    rows = {features: {row["protocol"]: row for row in summary["protocols"] if row["role"] == role}
            for features, summary in summaries.items()}
    rows = {features: by_protocol for features, by_protocol in rows.items() if by_protocol}
    protocols = list(dict.fromkeys(name for by_protocol in rows.values() for name in by_protocol))
    default = next(iter(rows.values()))
    head = ["features", *protocols, "mean (protocols)", "vs default (protocols)", "record commits"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for features, by_protocol in rows.items():
        cells = [_score(by_protocol.get(name)) for name in protocols]
        shared = [name for name in by_protocol if name in default]
        gaps = [by_protocol[name]["ari_default"] - default[name]["ari_default"] for name in shared]
        commits = ", ".join(summaries[features].get("record_commits") or [])
        lines.append("| " + " | ".join([features, *cells, _mean([row["ari_default"] for row in by_protocol.values()]),
                                         _mean(gaps, sign=True), commits]) + " |")
    return "\n".join(lines)


def _mean(values, sign=False):
    return f"{sum(values) / len(values):{'+' if sign else ''}.3f} ({len(values)})" if values else "-"


def _score(row):
    return "-" if row is None else f"{row['ari_default']:.3f} ({row['k_pred']}/{row['k_true']})"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.features_table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the suite*/ record folders")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md", help="README whose table is rebuilt")
    args = parser.parse_args(argv)
    table = tables(load_summaries(args.results))
    replace_block(args.readme, START, END, table)
    print(table)


if __name__ == "__main__":
    main()
