"""How fast review.html opens and answers in headless Chromium, on a run of 2,000 photos in 150 clusters.

The run is made up (uneven cluster sizes, 64-dimensional vectors near one centre per cluster,
plain coloured thumbnails), since only the page's size matters here; the page, its data and
its script are the ones visualize.py writes. Each try opens the page in a fresh browser and
reads two times from the page itself: from the start of navigation until the clusters are
drawn and the page takes input (the script's "review-ready" mark), and how long one merge of
two clusters takes to be replayed and drawn again. Needs Debian's chromium and chromium-driver.

Records go to benchmarks/results/review_page.json and a table into the README.
"""
import argparse
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.run_facts import git_commit, machine, publish  # noqa: E402
from prodcluster import review  # noqa: E402
from prodcluster.fileio import save_image, write_text  # noqa: E402
from prodcluster.settings import FILES  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "review_page.json"
START, END = "<!-- review:start -->", "<!-- review:end -->"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--clusters", type=int, default=150)
    parser.add_argument("--tries", type=int, default=5)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--readme", default=str(REPO / "README.md"), help="README to rewrite ('' for none)")
    return parser.parse_args(argv)


def made_up_run(folder, n_photos, n_clusters, seed=0):
    """review.html for `n_photos` in `n_clusters` clusters of uneven sizes, its thumbnails beside it."""
    rng = np.random.default_rng(seed)
    extra = rng.choice(n_clusters, size=n_photos - n_clusters, p=_uneven(n_clusters, rng))
    clusters = np.sort(np.concatenate([np.arange(n_clusters), extra]))  # every cluster holds a photo
    centres = rng.normal(size=(n_clusters, 64))
    features = centres[clusters] + rng.normal(scale=0.5, size=(n_photos, 64))
    files = [f"M{cluster:03d}_P{row}_1.jpg" for row, cluster in enumerate(clusters)]
    thumbs = folder / FILES["report_thumbs"][1]
    for row, colour in enumerate(rng.integers(0, 255, size=(n_photos, 3), dtype=np.uint8)):
        save_image(thumbs / f"{row}.jpg", np.broadcast_to(colour, (80, 80, 3)).copy(), quality=80)
    data = review.page_data("made_up", "run-0", files, features, clusters,
                            [f"{thumbs.name}/{row}.jpg" for row in range(n_photos)], [f"photos/{name}" for name in files],
                            files, {})
    page = folder / FILES["review_page"][1]
    write_text(page, review.page(data))
    return page


def _uneven(n_clusters, rng):
    weights = rng.pareto(1.5, size=n_clusters) + 0.2
    return weights / weights.sum()


def timed_try(page):
    """(ms until the page is drawn and takes input, ms for one merge) in a fresh headless Chromium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600", "--no-first-run"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(page.as_uri())
        ready = driver.execute_script("return performance.getEntriesByName('review-ready')[0].startTime")
        merge = driver.execute_script(
            "const [a, b] = run.clusters.slice(0, 2).map((cluster) => cluster.label);"
            "selectedClusters = new Set([a, b]); const start = performance.now(); actions.merge();"
            "return performance.now() - start")
        return ready, merge
    finally:
        driver.quit()


def markdown(record):
    lines = ["| photos | clusters | page size | tries | ready (ms), median | ready (ms), slowest | merge (ms), median |",
             "|---|---|---|---|---|---|---|",
             f"| {record['photos']} | {record['clusters']} | {record['page_bytes'] / 1e6:.2f} MB | "
             f"{len(record['ready_ms'])} | {statistics.median(record['ready_ms']):.0f} | {max(record['ready_ms']):.0f} | "
             f"{statistics.median(record['merge_ms']):.0f} |",
             "",
             f"Produced at {record['git_commit']} on {record['machine']['cpu']}, {record['machine']['cores']} cores, "
             "by:", "", "```bash", record["command"], "```"]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    command = "python -m benchmarks.review_page " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    commit = git_commit()
    with tempfile.TemporaryDirectory() as folder:
        page = made_up_run(Path(folder), args.photos, args.clusters)
        times = [timed_try(page) for _ in range(args.tries)]
        record = {"photos": args.photos, "clusters": args.clusters, "page_bytes": page.stat().st_size,
                  "ready_ms": [round(ready, 1) for ready, _ in times],
                  "merge_ms": [round(merge, 1) for _, merge in times], "git_commit": commit,
                  "command": command.strip(), "machine": machine()}
    publish(record, args.results, Path(args.readme) if args.readme else None, START, END, markdown(record))
    return record


if __name__ == "__main__":
    main()
