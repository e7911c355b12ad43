"""Safe reading and atomic writing of everything the stages hand to each other.

Every output goes to a temporary file in the same folder and is renamed into place,
so an interrupted stage never leaves a half-written file that a later stage trusts.
Photos are decoded defensively: a bad photo raises `ImageError` naming the file and
the problem, and callers record it as rejected instead of stopping the run.
"""
import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import PIL.Image

MIN_SIDE = 8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE, JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"
_UMASK = os.umask(0)
os.umask(_UMASK)


class ImageError(ValueError):
    """A photo that cannot be used; `reason` says why."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes the file private; outputs are ordinary files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_lines(path, lines):
    write_text(path, "".join(f"{line}\n" for line in lines))


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, Path)):
        return value.tolist() if isinstance(value, np.ndarray) else str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def read_json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_csv(path, frame):
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_csv(path, stage_hint=None):
    require_file(path, stage_hint)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def save_npy(path, array):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)


def load_npy(path, stage_hint=None, mmap=False):
    """An array from a .npy file; pickled objects are refused, since loading one can run code."""
    require_file(path, stage_hint)
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (ValueError, EOFError, OSError) as error:
        raise ValueError(f"{path} is not a plain numeric array file ({error})") from error


def save_image(path, rgb, quality=95):
    """Write an RGB uint8 image; the format follows the file extension."""
    suffix = Path(path).suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageError(path, f"OpenCV could not encode a {suffix} file")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())


def read_image(path, max_pixels=None):
    """Decode a photo as RGB uint8 (H x W x 3), honouring EXIF orientation.

    Greyscale, alpha (composited on white), 16-bit and CMYK inputs are converted.
    Raises `ImageError` for anything that is not a usable photo, or that has more than
    `max_pixels` pixels (the stages pass MAX_IMAGE_PIXELS; None: only Pillow's
    decompression-bomb limit applies).
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise ImageError(path, f"cannot read file ({error.strerror})") from error
    if data.size == 0:
        raise ImageError(path, "empty file (0 bytes)")
    if data[:3].tobytes() == JPEG_SIGNATURE and not data.tobytes().rstrip(b"\x00\r\n ").endswith(JPEG_END):
        raise ImageError(path, "truncated JPEG (no end-of-image marker)")
    width, height = _dimensions(data, path)
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(path, f"image of {width}x{height} exceeds the limit of {max_pixels} pixels")
    if min(width, height) < MIN_SIDE:
        raise ImageError(path, f"image too small ({width}x{height} pixels)")
    # PNG keeps alpha and 16 bits; JPEG decodes in colour, which applies EXIF orientation and CMYK.
    flags = cv2.IMREAD_UNCHANGED if data[:8].tobytes() == PNG_SIGNATURE else cv2.IMREAD_COLOR
    image = cv2.imdecode(data, flags)
    if image is None:
        raise ImageError(path, "not a decodable image (truncated or not a JPEG/PNG)")
    return _to_rgb8(image)


def _dimensions(data, path):
    """Width and height from the file header alone, before any pixel is decoded."""
    try:
        with PIL.Image.open(io.BytesIO(data.tobytes())) as header:
            return header.size
    except PIL.Image.DecompressionBombError as error:
        raise ImageError(path, "image far larger than any product photo (decompression bomb)") from error
    except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(path, "not a decodable image (not a JPEG/PNG, or damaged)") from error


def _to_rgb8(image):
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA).astype(np.float32)
        alpha = rgb[..., 3:] / 255.0
        return (rgb[..., :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def require_file(path, stage_hint=None):
    """Stop with a message that says which earlier stage makes the missing file."""
    if not Path(path).is_file():
        hint = f" Run {stage_hint} first." if stage_hint else ""
        raise FileNotFoundError(f"{path} is missing.{hint}")
