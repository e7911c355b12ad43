"""Rebuild the README's results table from the JSON records in benchmarks/results/."""
import json
from pathlib import Path

from prodcluster.fileio import write_text

START, END = "<!-- results:start -->", "<!-- results:end -->"
COLUMNS = [("dataset", "data set"), ("method", "method"), ("backbone", "backbone"), ("image_size", "px"),
           ("preprocess", "01"), ("cluster_method", "clustering"), ("k_true", "k true"), ("k_pred", "k pred"),
           ("ari_all", "ARI all"), ("ari_unseen", "ARI unseen"), ("ari_seen", "ARI seen"), ("nmi", "NMI"),
           ("acc", "acc"), ("recall_at_1_unseen", "R@1 unseen")]


def load_records(folder):
    return [json.loads(path.read_text()) for path in sorted(Path(folder).glob("*.json"))]


def markdown(records):
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for entry in sorted(records, key=lambda e: (e["dataset"], e.get("command", ""), e["method"])):
        lines.append("| " + " | ".join(_cell(entry.get(key)) for key, _ in COLUMNS) + " |")
    commands = sorted({entry["command"] for entry in records if entry.get("command")})
    machines = sorted({f"{e['machine']['cpu']}, {e['machine']['cores']} cores" for e in records if e.get("machine")})
    lines += ["", "Produced by:", "", "```bash", *commands, "```", "", "Machine: " + "; ".join(machines)]
    return "\n".join(lines)


def _cell(value):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def update_readme(readme, folder):
    """Replace the text between the results markers of `readme` with a fresh table."""
    text = Path(readme).read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ValueError(f"{readme} lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    write_text(readme, f"{head}{START}\n{markdown(load_records(folder))}\n{END}{tail}")
