"""Stage 01: remove product-photo backgrounds (raw_img/<DATASET> -> img/<DATASET>, same file names).

Methods: "auto" (default: looks at the data set's backgrounds first, then runs "grabcut" where
most are cluttered and "none" otherwise), "grabcut" (OpenCV GrabCut seeded from the photo's
border; plain white backgrounds and implausible masks keep the photo as it is), "sobel_contour"
(the 2019 project's Sobel edges and filled outer contours) and "none" (copies the photos unchanged).
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, "preprocess", "save_masks", *cli.ENGINE, stages=("01",))
    args = parser.parse_args(argv)
    from prodcluster import pipeline
    pipeline.run_stage("01", cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
