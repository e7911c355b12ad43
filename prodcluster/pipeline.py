"""All stages in order, timed, as run_all.py runs them."""
import time

from . import demo, features, finetune, labels, split, stages


def run_all(settings, finetune_network=True):
    """Labels, background removal, split, fine-tuning, features, clustering, scores, pictures."""
    settings = settings.replace(use_finetuned=finetune_network)
    if settings.dataset == "demo":
        demo.ensure_demo(settings.raw_img)
    steps = [
        ("00 labels", lambda: labels.make_labels(settings)),
        ("01 preprocess", lambda: stages.preprocess(settings)),
        ("split", lambda: split.make_training_folders(settings)),
        ("02 fine-tune", (lambda: finetune.fine_tune(settings)) if finetune_network else None),
        ("03 features", lambda: features.extract_features(settings)),
        ("04 cluster", lambda: stages.cluster(settings)),
        ("evaluation", lambda: stages.evaluate(settings)),
        ("visualize", lambda: stages.visualize(settings)),
    ]
    seconds = {}
    for name, step in steps:
        if step is None:
            continue
        start = time.perf_counter()
        step()
        seconds[name] = time.perf_counter() - start
        print(f"[{name}] {seconds[name]:.1f} s")
    print("wall time per stage: " + ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items()))
    return seconds
