"""Each step opens only the files its declaration lists (files.py): recorded by Python's audit hooks.

Every stage, stage 05, a review and self-training run once on a tiny demo; every file each opens, lists,
links, renames onto or deletes inside the work folder is recorded while it runs. A read must
be declared as read, updated or cached, or be one of the step's own outputs (resumed or
extended); a write must be declared as written, updated or cached. Temporary files count
as the file they are renamed onto.
"""
import os
import re
import sys
from pathlib import Path

import pytest

from prodcluster import corrections, handoff, pipeline, updates
from prodcluster.demo import make_demo
from prodcluster.fileio import write_json
from prodcluster.files import paths

pytestmark = pytest.mark.slow  # every stage end to end, fine-tuning included: about 80 s
TEMPORARY = re.compile(r"^\..*\.tmp")  # atomic_path's and the steps' scratch names
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
recorded = None  # [(kind, path)] while a step runs


def _record(event, args):
    if recorded is None:
        return
    if event == "open" and isinstance(args[0], (str, Path)):
        writes = (args[2] or 0) & WRITE_FLAGS or any(mode in (args[1] or "") for mode in "wax+")
        recorded.append(("write" if writes else "read", args[0]))
    elif event in ("os.listdir", "os.scandir") and isinstance(args[0], (str, Path)):
        recorded.append(("read", args[0]))
    elif event in ("os.rename", "os.link"):
        recorded.extend([("read", args[0]), ("write", args[1])])
    elif event == "os.symlink":  # a relative link is read from the link's folder
        recorded.extend([("read", os.path.join(os.path.dirname(args[1]), args[0])), ("write", args[1])])
    elif event in ("os.remove", "os.rmdir"):
        recorded.append(("write", args[0]))


sys.addaudithook(_record)


def opened(step, root, *args):
    """{"read": paths, "write": paths} that `step(*args)` touched inside `root`, temporary files left out."""
    global recorded
    recorded = []
    try:
        step(*args)
    finally:
        events, recorded = recorded, None
    touched = {"read": set(), "write": set()}
    for kind, path in events:
        path = Path(os.path.abspath(path))
        if path.is_relative_to(root) and not any(TEMPORARY.match(part) for part in path.relative_to(root).parts):
            touched[kind].add(path)
    return touched


def undeclared(paths_touched, allowed):
    return sorted(str(path) for path in paths_touched
                  if not any(path == place or path.is_relative_to(place) for place in allowed))


def check(step, settings, *args):
    declared = step.declared
    touched = opened(step, settings.root, settings, *args)
    readable = paths(settings, declared.reads + declared.writes + declared.updates + declared.caches)
    writable = paths(settings, declared.writes + declared.updates + declared.caches)
    assert undeclared(touched["read"], readable) == [], f"{step.__name__} reads files it does not declare"
    assert undeclared(touched["write"], writable) == [], f"{step.__name__} writes files it does not declare"
    return touched


@pytest.fixture(scope="module")
def run(tmp_path_factory, settings_at):
    root = tmp_path_factory.mktemp("declared")
    settings = settings_at(root).replace(epochs=1, head_epochs=2, augmented_views=1, finetune_blocks=0, runtime="keras",
                                         tsne_perplexity=3, train_fraction=0.75, calibration_share=0.5)
    make_demo(settings.raw_img, n_models=8, photos_per_model=5, seed=11)  # 3 models fine-tune, 3 calibrate
    return settings


def test_every_stage_opens_only_what_it_declares(run):
    for stage in pipeline.STAGES:
        touched = check(stage.function, run)
        assert touched["write"], f"stage {stage.name} wrote nothing: the recording missed it"
    assert run.path("network").is_file() and run.path("metrics").is_file()


def test_stage_05_and_a_review_open_only_what_they_declare(run, tmp_path):
    new = tmp_path / "new"
    make_demo(new, n_models=1, photos_per_model=2, seed=12)
    (new / "broken.jpg").write_bytes(b"not a photo")
    check(updates.assign_new_photos, run, new, "day1")
    review = tmp_path / "review.json"  # the user's file, outside the work folder
    write_json(review, {"format": corrections.FORMAT, "dataset": run.dataset, "run": handoff.run_id(run),
                        "decisions": [{"action": "name", "clusters": [0], "name": "Boot", "photos": []}]})
    check(updates.apply_review, run, review)
    assert handoff.reviewed_models(run)


def test_self_training_opens_only_what_it_declares(run):
    touched = check(updates.self_train, run)
    assert run.path("pseudo_models") in touched["write"], "no pseudo-model was learnt: the check saw too little"
