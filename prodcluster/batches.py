"""Photos to network-ready batches, decoded in threads while the network works.

Each photo is padded to a square with white (shop photos sit on white, and padding keeps
the product's proportions) and resized to the network's input size.
"""
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from .fileio import ImageError, read_image


def square_resize(rgb, size):
    """Pad to a white square around the centre, then resize to size x size."""
    height, width = rgb.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    padded = cv2.copyMakeBorder(rgb, top, side - height - top, left, side - width - left,
                                cv2.BORDER_CONSTANT, value=(255, 255, 255))
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(padded, (size, size), interpolation=interpolation)


def load_for_network(path, size, max_pixels):
    return square_resize(read_image(path, max_pixels), size)


def iter_batches(paths, size, batch_size, max_pixels, workers=2):
    """Yield (row indices, float32 batch, [(row, ImageError)]) in order, one batch decoded ahead."""
    starts = range(0, len(paths), batch_size)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        def submit(start):
            return pool.submit(load_batch, paths, start, min(start + batch_size, len(paths)), size, max_pixels)

        pending = submit(starts[0]) if starts else None
        for position, _ in enumerate(starts):
            current = pending.result()
            pending = submit(starts[position + 1]) if position + 1 < len(starts) else None
            yield current


def load_batch(paths, start, stop, size, max_pixels):
    """Rows start..stop-1 of `paths` as (rows read, float32 batch of them, [(row, ImageError)])."""
    rows, images, errors = [], [], []
    for row in range(start, stop):
        try:
            images.append(load_for_network(paths[row], size, max_pixels))
            rows.append(row)
        except ImageError as error:
            errors.append((row, error))
    batch = np.stack(images).astype(np.float32) if images else np.zeros((0, size, size, 3), np.float32)
    return np.array(rows, dtype=np.int64), batch, errors
