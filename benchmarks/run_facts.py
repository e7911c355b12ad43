"""Facts every benchmark record carries (commit, machine), and the README block it rewrites.

Kept free of TensorFlow, so light benchmark processes can import it.
"""
import os
import platform
import subprocess
from pathlib import Path

from prodcluster.fileio import write_json, write_text

REPO = Path(__file__).resolve().parents[1]


def machine():
    """CPU model, core count and Python version of this machine."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def _checked_out():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


_LOADED_FROM = _checked_out()  # read once: a commit made while a long benchmark runs is not the code it runs


def git_commit():
    """The short commit hash checked out when this process loaded its code, or None outside git."""
    return _LOADED_FROM


def replace_block(path, start, end, text):
    """Replace what lies between the markers `start` and `end` of the file at `path` with `text`."""
    content = Path(path).read_text(encoding="utf-8")
    if start not in content or end not in content:
        raise ValueError(f"{path} lacks the markers {start} ... {end}")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    write_text(path, f"{head}{start}\n{text}\n{end}{tail}")


def publish(record, path, readme, start, end, table):
    """Write `record` as JSON to `path`, put `table` (markdown) between the markers of `readme` (if given), print it."""
    write_json(path, record)
    if readme and Path(readme).exists():
        replace_block(readme, start, end, table)
    print(table)
