"""Progress bars on a terminal only: a log file gets each stage's one-line summary instead."""
from functools import partial

from tqdm import tqdm

progress_bar = partial(tqdm, disable=None)  # None: tqdm turns itself off when its stream is not a terminal
