"""Rebuild the README's results tables from the JSON records in benchmarks/results/.

One table per data set; a column that no record of the data set fills (the stage-01 mask
IoU outside the scene protocol, "ARI seen" where every model is unseen) is left out.
"""
import json
from pathlib import Path

from benchmarks.run_facts import replace_block

START, END = "<!-- results:start -->", "<!-- results:end -->"
COLUMNS = [("method", "method"), ("backbone", "backbone"), ("image_size", "px"),
           ("preprocess", "01"), ("cluster_method", "clustering"), ("k_true", "k true"), ("k_pred", "k pred"),
           ("k_criterion", "k by"), ("ari_all", "ARI all"), ("ari_unseen", "ARI unseen"), ("ari_seen", "ARI seen"),
           ("nmi", "NMI"), ("acc", "acc"), ("recall_at_1_unseen", "R@1 unseen"), ("mask_iou_mean", "IoU mean"),
           ("mask_iou_p10", "IoU p10"), ("seconds_per_photo_01", "s/photo 01")]
DECIMALS = {"seconds_per_photo_01": 4}


def load_records(folder):
    """The clustering records of `folder`; other summaries kept beside them (speed.json) have no data set."""
    records = [json.loads(path.read_text()) for path in sorted(Path(folder).glob("*.json"))]
    return [record for record in records if "dataset" in record]


def markdown(records):
    lines = []
    for dataset in sorted({entry["dataset"] for entry in records}):
        lines += [f"**{dataset}**", "", *_table([entry for entry in records if entry["dataset"] == dataset]), ""]
    commands = sorted({entry["command"] for entry in records if entry.get("command")})
    machines = sorted({f"{e['machine']['cpu']}, {e['machine']['cores']} cores" for e in records if e.get("machine")})
    lines += ["Produced by:", "", "```bash", *commands, "```", "", "Machine: " + "; ".join(machines)]
    return "\n".join(lines)


def _table(records):
    columns = [(key, title) for key, title in COLUMNS if any(entry.get(key) is not None for entry in records)]
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    for entry in sorted(records, key=lambda e: (e.get("preprocess", ""), e.get("command", ""), e["method"])):
        lines.append("| " + " | ".join(_cell(entry.get(key), DECIMALS.get(key, 3)) for key, _ in columns) + " |")
    return lines


def _cell(value, decimals=3):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    return str(value)


def update_readme(readme, folder):
    """Replace the text between the results markers of `readme` with a fresh table."""
    replace_block(readme, START, END, markdown(load_records(folder)))
