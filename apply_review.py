"""Apply the corrections made on review.html: merged, split and moved clusters, photos that are not products.

Takes the review.json that review.html exported and the data set it was made on. Checks that
the review fits the data set's clusters as they are now (nothing is written otherwise), then
writes the corrected predictions, scores and report, lists the photos marked not a product as
rejected, and records every reviewed cluster as a known model in data/<DATASET>/reviewed.csv:
make_training_image_folders.py and stage 02 learn from it and stage 04 keeps it whole when
they run again (run_all.py reruns them). Applying the same file again changes nothing.
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, stages=("review",), skips=False)
    parser.add_argument("review", help="the review.json exported by result/<DATASET>/review.html")
    args = parser.parse_args(argv)
    from pathlib import Path

    from prodcluster import pipeline
    pipeline.apply_review(cli.settings(config, args), Path(args.review))


if __name__ == "__main__":
    cli.run(main)
