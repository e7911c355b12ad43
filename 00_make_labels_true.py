"""Stage 00: list the photos of raw_img/<DATASET> and read their true labels from the file names.

Photos (.jpg, .jpeg, .png, in sub-folders too) may have any name; those named
MODELID_PRODUCTID_IMAGEID.<ext> carry their true model. Writes data/<DATASET>/images.txt, labels.csv
and labels_true.txt (one model id a line, in image-list order; empty where the name gives none).
"""
import config
from prodcluster import cli, pipeline


def main(argv=None):
    args = cli.parser(__doc__).parse_args(argv)
    table = pipeline.run_stage("00", cli.settings(config, args), force=args.force)
    if table is not None:
        labelled = table["model_id"] != ""
        models = table.loc[labelled, "model_id"].nunique()
        print(f"00: {len(table)} photos; {labelled.sum()} named with their model ({models} models), "
              f"{(~labelled).sum()} without (clustered, not scored)")


if __name__ == "__main__":
    cli.run(main)
