"""The stages in order, as the scripts run them.

Every numbered script runs its stage through `run_stage`, so a stage whose inputs and
settings are unchanged is skipped, and one whose inputs are out of date stops (see
freshness.py; the settings that shape a stage are tagged with its name in settings.py).
`run_all` runs them all in order and times them.
"""
import time

from . import stages, updates
from .files import paths
from .freshness import Stage, check_up_to_date, restamp, run_unless_fresh

STAGES = (  # each function declares the files it reads and writes (files.py)
    Stage("00", "00_make_labels_true.py", stages.make_labels),
    Stage("01", "01_img_preprocess.py", stages.preprocess, forwards_force=True),
    Stage("split", "make_training_image_folders.py", stages.make_training_folders),
    Stage("02", "02_feature_network_fine_tuning.py", stages.fine_tune),
    Stage("03", "03_extract_features.py", stages.extract_features),
    Stage("04", "04_cluster_som.py", stages.cluster, code_defaults=stages.clustering_defaults),
    Stage("evaluation", "evaluation.py", stages.evaluate, on_skip=stages.print_scores),
    Stage("visualize", "visualize.py", stages.visualize),
)
BY_NAME = {stage.name: stage for stage in STAGES}


def run_stage(name, settings, force=False):
    """Run one stage unless it is up to date; return its result, or None when skipped."""
    _require_dataset(settings.validate())
    return run_unless_fresh(BY_NAME[name], STAGES, settings, force=force)


def _require_dataset(settings):
    """Name the data set when it has neither photos nor outputs here, rather than a missing file of it."""
    if settings.raw_img.is_dir() or settings.data.is_dir():
        return
    photo_root = settings.raw_img.parent
    known = sorted(path.name for path in photo_root.iterdir() if path.is_dir()) if photo_root.is_dir() else []
    raise FileNotFoundError(f"no data set {settings.dataset!r}: {settings.raw_img} does not exist; put its photos "
                            "there" + (f", or choose one of {', '.join(known)}" if known else ""))


def run_all(settings, force=False):
    """Labels, background removal, split, fine-tuning (unless USE_FINETUNED is off), features, clustering
    (then self-training where SELF_TRAINING is on), scores, pictures."""
    settings = settings.validate()
    if settings.dataset == "demo":
        from .demo import ensure_demo
        ensure_demo(settings.raw_img)
    seconds = {}
    for stage in STAGES:
        if stage.name == "02" and not settings.use_finetuned:
            continue
        _timed(seconds, stage.name, lambda: run_stage(stage.name, settings, force=force))
        if stage.name == "04" and settings.self_training:
            _timed(seconds, "self-training", lambda: _self_train(settings))
    print("wall time per stage: " + ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items()))
    return seconds


def _timed(seconds, name, step):
    start = time.perf_counter()
    step()
    seconds[name] = time.perf_counter() - start
    print(f"[{name}] {seconds[name]:.1f} s")


def assign_new_photos(settings, folder, batch):
    """Stage 05 on `folder`, then the scores and pictures again, so that they show the new photos too."""
    settings = settings.validate()
    _require_dataset(settings)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder of new photos {folder} does not exist")
    _require_whole_run(settings, besides=[settings.raw_img])  # where stage 05 copies to
    added = updates.assign_new_photos(settings, folder, batch)
    if len(added):
        _restamp(settings, updates.assign_new_photos, ("00", "01", "split", "03", "04"))
    _refresh_results(settings)
    return added


def apply_review(settings, path):
    """Apply review.json to the run it was made on, then the scores and pictures again."""
    settings = settings.validate()
    _require_dataset(settings)
    _require_whole_run(settings)
    applied = updates.apply_review(settings, path)
    if applied is not None:
        _restamp(settings, updates.apply_review, ("04",))  # the split stays out of date: it learns the review
        _refresh_results(settings)
    return applied


def self_train(settings):
    """Self-training on a finished run, then the scores and pictures again."""
    settings = settings.validate()
    _require_dataset(settings)
    _require_whole_run(settings)
    pseudo = _self_train(settings)
    if pseudo is not None:
        _refresh_results(settings)
    return pseudo


def _self_train(settings):
    pseudo = updates.self_train(settings)
    if pseudo is not None:
        _restamp(settings, updates.self_train, ("03", "04"))
    return pseudo


def _require_whole_run(settings, besides=()):
    """Stop unless stages 00 to 04 left their files as they are: the clusters a step builds on are whole."""
    for name in ("00", "01", "03", "04"):
        check_up_to_date(BY_NAME[name], settings, besides=besides)


def _restamp(settings, step, names):
    """Take the files `step` declares it writes as the named stages' own: they stay up to date without running."""
    extended = paths(settings, step.declared.writes)
    for name in names:
        restamp(BY_NAME[name], settings, extended)


def _refresh_results(settings):
    """The scores and pictures of a run that stage 05 or a review extended. Their earlier stages are not checked
    again: the run was whole, and a review's models (for the next fine-tuning) leave it whole."""
    for name in ("evaluation", "visualize"):
        run_unless_fresh(BY_NAME[name], STAGES, settings, upstream=False)
