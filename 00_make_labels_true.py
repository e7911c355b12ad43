"""Stage 00: list the photos of raw_img/<DATASET> and read their true labels from the file names.

Photos (.jpg, .jpeg, .png, in sub-folders too) may have any name; those named
MODELID_PRODUCTID_IMAGEID.<ext> carry their true model. Writes data/<DATASET>/images.txt, labels.csv
and labels_true.txt (one model id a line, in image-list order; empty where the name gives none).
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, stages=("00",))
    args = parser.parse_args(argv)
    from prodcluster import pipeline
    pipeline.run_stage("00", cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
