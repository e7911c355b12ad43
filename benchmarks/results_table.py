"""Rebuild the README's results table from the JSON records in benchmarks/results/.

The stage-01 columns (mask IoU, seconds per photo) appear only when some record has a value.
"""
import json
from pathlib import Path

from benchmarks.run_facts import replace_block

START, END = "<!-- results:start -->", "<!-- results:end -->"
COLUMNS = [("dataset", "data set"), ("method", "method"), ("backbone", "backbone"), ("image_size", "px"),
           ("preprocess", "01"), ("cluster_method", "clustering"), ("k_true", "k true"), ("k_pred", "k pred"),
           ("k_criterion", "k by"), ("ari_all", "ARI all"), ("ari_unseen", "ARI unseen"), ("ari_seen", "ARI seen"),
           ("nmi", "NMI"), ("acc", "acc"), ("recall_at_1_unseen", "R@1 unseen")]
OPTIONAL_COLUMNS = [("mask_iou_mean", "IoU mean"), ("mask_iou_p10", "IoU p10"), ("seconds_per_photo_01", "s/photo 01")]
DECIMALS = {"seconds_per_photo_01": 4}


def load_records(folder):
    return [json.loads(path.read_text()) for path in sorted(Path(folder).glob("*.json"))]


def markdown(records):
    columns = COLUMNS + [(key, title) for key, title in OPTIONAL_COLUMNS
                         if any(entry.get(key) is not None for entry in records)]
    lines = ["| " + " | ".join(title for _, title in columns) + " |",
             "|" + "---|" * len(columns)]
    for entry in sorted(records, key=lambda e: (e["dataset"], e.get("command", ""), e["method"])):
        lines.append("| " + " | ".join(_cell(entry.get(key), DECIMALS.get(key, 3)) for key, _ in columns) + " |")
    commands = sorted({entry["command"] for entry in records if entry.get("command")})
    machines = sorted({f"{e['machine']['cpu']}, {e['machine']['cores']} cores" for e in records if e.get("machine")})
    lines += ["", "Produced by:", "", "```bash", *commands, "```", "", "Machine: " + "; ".join(machines)]
    return "\n".join(lines)


def _cell(value, decimals=3):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    return str(value)


def update_readme(readme, folder):
    """Replace the text between the results markers of `readme` with a fresh table."""
    replace_block(readme, START, END, markdown(load_records(folder)))
