"""Stage 00: list the photos of raw_img/<DATASET> and read their true labels from the file names.

Photos are named MODELID_PRODUCTID_IMAGEID.<jpg|jpeg|png>. Writes data/<DATASET>/images.txt,
labels.csv and labels_true.txt (one model id a line, in image-list order).
"""
import config
from prodcluster import cli, pipeline


def main(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--skip-bad-names", action="store_true",
                        help="leave out photos whose names do not parse (listed in rejected.csv) instead of stopping")
    args = parser.parse_args(argv)
    table = pipeline.run_stage("00", cli.settings(config, args), force=args.force, skip_bad_names=args.skip_bad_names)
    if table is not None:
        print(f"00: {len(table)} photos of {table['model_id'].nunique()} models")


if __name__ == "__main__":
    cli.run(main)
