"""Stage 01: remove product-photo backgrounds (raw_img/<DATASET> -> img/<DATASET>, same file names).

Methods: "grabcut" (default: OpenCV GrabCut seeded from the photo's border; plain white
backgrounds and implausible masks keep the photo as it is), "sobel_contour" (the 2019
project's Sobel edges and filled outer contours) and "none" (copies the photos unchanged).
"""
import config
from prodcluster import cli, pipeline


def main(argv=None):
    parser = cli.add_engine_options(cli.parser(__doc__))
    parser.add_argument("--preprocess", help="background removal method (default: PREPROCESS in config.py)")
    parser.add_argument("--save-masks", action="store_true", default=None,
                        help="also save the foreground masks (default: SAVE_MASKS in config.py)")
    args = parser.parse_args(argv)
    pipeline.run_stage("01", cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
