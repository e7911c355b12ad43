"""Skip a stage whose inputs and settings have not changed; refuse inputs that are out of date.

After a stage succeeds, its stamp (data/<DATASET>/stamps/<stage>.json) records fingerprints
of its input files, of the settings that shape its outputs (with the code's own defaults where
a stage names them), and of its output files. Run again, the stage is skipped while all three
still match, unless forced; a changed setting, default or input makes it redo its work, and
its new outputs are then changed inputs for later stages.
Before a stage runs, every earlier stage that wrote one of its inputs, directly or through
other stages, is checked against its stamp: if its recorded input files changed after it ran,
or its outputs are not the ones it recorded, the run stops, naming the script to rerun,
instead of silently building on them. Settings are not part of that check: what an earlier
stage ran with is what its stamp recorded. A failed run leaves the last good stamp in place.

Folders (photos, networks) are fingerprinted by each file's name, size and modification
time, since reading ten thousand photos again would cost more than the check saves; single
files by their content, so rewriting a file with the same bytes does not make later stages
redo their work.
"""
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .fileio import read_json, write_json
from .files import paths

MISSING = "missing"
running = None  # the stage at work now, for the message when a user interrupts it


class StaleInputs(RuntimeError):
    """An input was written by a stage whose own inputs or settings have changed since."""


@dataclass(frozen=True)
class Stage:
    """A stage as the freshness check sees it: what it reads and writes (its function's declaration, files.py),
    and the settings that shape it."""

    name: str  # also how settings name the stages they shape (`setting(..., stages=...)`)
    script: str
    function: Callable  # function(settings) does the stage's work (with `force` where it forwards it)
    forwards_force: bool = False
    on_skip: Callable | None = None  # called with the settings when the stage is skipped
    code_defaults: Callable | None = None  # settings -> the code's defaults: a version changing one redoes it

    def inputs(self, settings):
        return paths(settings, self.function.declared.reads)

    def outputs(self, settings):
        return paths(settings, self.function.declared.writes)

    def stamp_path(self, settings):
        return settings.path("stamps") / f"{self.name}.json"

    def fingerprint(self, settings):
        shaping = {**settings.shaping(self.name),
                   **({"code defaults": self.code_defaults(settings)} if self.code_defaults else {})}
        return {"inputs": {_name(path, settings): fingerprint(path) for path in self.inputs(settings)},
                "settings": _digest(json.dumps(shaping, sort_keys=True, default=str))}

    def output_fingerprints(self, settings):
        return {_name(path, settings): fingerprint(path) for path in self.outputs(settings)}


def run_unless_fresh(stage, stages, settings, force=False, upstream=True):
    """Run `stage` unless it is up to date; return its result, or None when skipped.

    upstream=False checks none of the earlier stages: for a caller that has checked the stages it builds on."""
    if upstream:
        _check_upstream(stage, stages, settings)
    current = stage.fingerprint(settings)
    recorded = _read_stamp(stage, settings)
    if not force and recorded and _matches(recorded, current) \
            and recorded.get("outputs") == stage.output_fingerprints(settings):
        print(f"{stage.name}: inputs and settings unchanged since its last run; skipped (--force reruns it)")
        if stage.on_skip:
            stage.on_skip(settings)
        return None
    if recorded and not _matches(recorded, current):
        print(f"{stage.name}: {_describe_change(recorded, current)} changed since its last run; redoing it")
    for path in stage.outputs(settings):
        _remove_leftovers(path)
    global running
    running = stage.name
    result = stage.function(settings, **({"force": force} if stage.forwards_force else {}))
    running = None
    write_json(stage.stamp_path(settings), {**current, "outputs": stage.output_fingerprints(settings)})
    return result


def check_up_to_date(stage, settings, besides=()):
    """Raise StaleInputs unless `stage` has run and every file it read and wrote, but the paths `besides`, is as
    it left them."""
    recorded = _read_stamp(stage, settings)
    if recorded is None:
        raise StaleInputs(f"stage {stage.name} has not run on data set {settings.dataset!r}: run {stage.script} first")
    passed = {_name(path, settings) for path in besides}
    for part in ("inputs", "outputs"):
        changed = sorted(name for name, value in recorded.get(part, {}).items()
                         if name not in passed and fingerprint(_path(name, settings)) != value)
        if changed:
            raise StaleInputs(f"the {part} of stage {stage.name} ({', '.join(changed)}) changed since it ran: rerun "
                              f"{stage.script} first")


def restamp(stage, settings, extended):
    """Take the files another step has `extended` (paths) as `stage`'s own: its stamp, if any, records today's
    fingerprints of those it read or wrote; every other file and the settings stay as recorded, so a change the
    step did not make still makes the stage out of date."""
    recorded = _read_stamp(stage, settings)
    if recorded is None:
        return
    names = {_name(path, settings) for path in extended}
    now = {part: {name: fingerprint(_path(name, settings)) if name in names else value
                  for name, value in recorded.get(part, {}).items()} for part in ("inputs", "outputs")}
    write_json(stage.stamp_path(settings), {**recorded, **now})


def _check_upstream(stage, stages, settings):
    """Raise StaleInputs if a stage that wrote an input of `stage` (directly or not) is out of date.

    Each earlier stage is judged by its stamp: the input files it recorded reading must be
    unchanged, and the files it wrote must be the ones it recorded writing (else it did not
    finish). Today's settings play no part, so options an earlier stage ran with (another
    data set's network, no fine-tuning) need not be repeated to run a later one. Of several
    stale stages the earliest is named, since rerunning it comes first.
    """
    ancestors = _producers(stage, stages, settings)
    for producer in stages:
        if producer.name not in ancestors:
            continue
        recorded, read_by = ancestors[producer.name]
        inputs = {written: fingerprint(_path(written, settings)) for written in recorded.get("inputs", {})}
        outputs = {written: fingerprint(_path(written, settings)) for written in recorded["outputs"]}
        if outputs != recorded["outputs"]:
            raise StaleInputs(f"{read_by} (read by stage {stage.name}) comes from stage {producer.name}, whose "
                              f"outputs changed after it finished, or its last run stopped early: rerun "
                              f"{producer.script} first")
        if inputs != recorded["inputs"]:
            changed = sorted(key for key in inputs if inputs[key] != recorded["inputs"][key])
            raise StaleInputs(f"{read_by} (read by stage {stage.name}) came from stage {producer.name}, whose "
                              f"inputs ({', '.join(changed)}) changed since: rerun {producer.script} first")


def _producers(stage, stages, settings):
    """{name: (stamp, a file it wrote that was read)} of the stages that wrote `stage`'s inputs, directly or not."""
    wanted, found = sorted(_name(path, settings) for path in stage.inputs(settings)), {}
    while wanted:
        name = wanted.pop()
        for producer in stages:
            recorded = _read_stamp(producer, settings) if producer.name not in {*found, stage.name} else None
            if recorded and name in recorded.get("outputs", {}):
                found[producer.name] = recorded, name
                wanted += sorted(recorded.get("inputs", {}))
    return found


def _matches(recorded, current):
    return recorded.get("inputs") == current["inputs"] and recorded.get("settings") == current["settings"]


def _describe_change(recorded, current):
    changed = [name for name, value in current["inputs"].items()
               if recorded.get("inputs", {}).get(name, MISSING) != value]
    if recorded.get("settings") != current["settings"]:
        changed.append("settings")
    return "inputs (" + ", ".join(changed) + ")" if changed else "inputs"


def _name(path, settings):
    """How a stamp names a path: relative to the work folder when inside it."""
    path, root = Path(path).absolute(), Path(settings.root).absolute()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _path(name, settings):
    """The path a stamp's name stands for (the inverse of `_name`)."""
    path = Path(name)
    return path if path.is_absolute() else Path(settings.root) / path


def _read_stamp(stage, settings):
    path = stage.stamp_path(settings)
    try:
        return read_json(path) if path.is_file() else None
    except ValueError:
        return None


def fingerprint(path):
    """A short digest of a file's content, or of a folder's file names, sizes and times."""
    path = Path(path)
    if path.is_file():
        return _file_digest(path)
    if path.is_dir():
        return _digest("\n".join(_listing(path)))
    return MISSING


def _listing(folder):
    for directory, subfolders, files in os.walk(folder):
        subfolders.sort()
        for name in sorted(files):
            full = Path(directory) / name
            try:
                info = full.stat()
            except OSError:
                yield f"{full.relative_to(folder)} unreadable"
                continue
            yield f"{full.relative_to(folder)} {info.st_size} {info.st_mtime_ns}"


def _file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _remove_leftovers(path):
    """Delete temporary files that a killed run of this stage left beside or inside `path`."""
    path = Path(path)
    pattern = ".*.tmp*"
    candidates = path.rglob(pattern) if path.is_dir() else path.parent.glob(f".{path.name}.*.tmp*")
    for leftover in list(candidates):
        leftover.unlink(missing_ok=True)
