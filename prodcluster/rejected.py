"""The per-data-set list of photos that a stage could not use, with the reason.

Every input photo ends up either clustered or listed here, so counts always add up.
"""
import pandas as pd

from .fileio import read_csv, write_csv

COLUMNS = ["file", "stage", "reason"]


def rejected_frame(rows=()):
    return pd.DataFrame(list(rows), columns=COLUMNS)


def record_rejected(settings, stage, frame):
    """Replace the rows of `stage` in rejected.csv with `frame` (columns file, reason)."""
    path = settings.data_file("rejected")
    kept = read_csv(path) if path.is_file() else rejected_frame()
    kept = kept[kept["stage"] != stage]
    new = frame.assign(stage=stage)[COLUMNS] if len(frame) else rejected_frame()
    write_csv(path, pd.concat([kept, new], ignore_index=True))


def load_rejected(settings):
    path = settings.data_file("rejected")
    return read_csv(path) if path.is_file() else rejected_frame()
