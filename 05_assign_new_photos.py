"""Stage 05: new photos join an earlier run's clusters, or open new ones, without clustering again.

Takes a folder of new photos (any names, sub-folders too) and the data set's last run of stages
00 to 04. Each photo is copied into raw_img/<DATASET>/<BATCH>/, prepared and read by the same
method and network as the run's photos, then joins the cluster whose centre it matches as well
as the run's own photos match theirs; the photos that match none are grouped among themselves
and with the clusters earlier batches opened, and the other groups open new clusters, numbered
after the existing ones. Earlier photos keep their cluster numbers and nothing is refitted.
Writes data/<DATASET>/added.csv (each new photo: joined, new cluster or rejected), extends
predictions.csv (its `batch` column names the new photos) and the other hand-off files, then
refreshes the scores and the report. Rerunning on the same folder changes nothing.
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, *cli.ENGINE, stages=("05",), skips=False)
    parser.add_argument("folder", help="folder of the new photos")
    parser.add_argument("--batch", help="name of this batch and of its sub-folder of raw_img/<DATASET> "
                                        "(default: the folder's name)")
    args = parser.parse_args(argv)
    from pathlib import Path

    from prodcluster import pipeline
    settings = cli.settings(config, args)
    pipeline.assign_new_photos(settings, Path(args.folder), args.batch or Path(args.folder).resolve().name)


if __name__ == "__main__":
    cli.run(main)
