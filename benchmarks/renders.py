"""Products seen from all around: procedural 3D products rendered from many viewpoints.

In the listing sets (listings.py) every photo of a model warps one flat drawing, whereas real
listings show a product's front, side, back and top. Here a model is a small 3D object made
of parametric surfaces (surfaces of revolution, superellipsoids, arcs of a torus): a bottle,
mug, watch, phone, speaker, bag or shoe with its own proportions, parts, colours and
textures, some of them real photographs (scikit-image's bundled sample images: prints, and
grey materials that shade a part's own colour). Each photo renders the model from its own
azimuth (all around), elevation (-10 to 60 degrees), roll, distance and light: dense samples
of every surface are splatted into a depth buffer, and the pixels they cover are the true
mask. Sellers list a model in one of its colourways (demo.write_listings names the photos),
photo counts are long-tailed (2 to 60) and a share of each set's photos (10 to 40 %) stand
on crops of real photographs, the rest on light studio backgrounds.

`python -m benchmarks.renders --sheet PATH` draws a few models' photos, a row per model.
"""
import argparse
import sys
import tempfile
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import cv2
import numpy as np
import skimage.data

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import listings, scenes  # noqa: E402
from prodcluster import demo, demo_art, visual  # noqa: E402
from prodcluster.labels import parse_name  # noqa: E402

CATEGORIES = ("bottle", "mug", "watch", "phone", "speaker", "bag", "shoe")
PRINTS = ("immunohistochemistry", "hubble_deep_field", "colorwheel", "retina", "logo", "coffee")
MATERIALS = ("brick", "grass", "gravel", "camera")  # grey photographs that shade a part's colour
PHOTO_SIDE_RANGE = (200, 272)
DENSITY = 1.3  # surface samples per pixel along each direction
COARSE = 48  # samples per direction of the grid that measures a surface
MAX_SAMPLES = 1500  # per direction
ELEVATION_RANGE = (-10, 60)  # degrees above the product's horizon
ROLL_RANGE = (-15, 15)  # degrees: a tilted camera
FILL_RANGE = (0.6, 0.88)  # the product's longer projected side over the photo's shorter side
CLUTTERED_SHARE_RANGE = (0.1, 0.4)  # per set: photos on a real photograph instead of a studio background


@dataclass(frozen=True)
class Part:
    """One surface of a model, in the model's frame (y up).

    surface: "revolve" (shape: heights, radii of the profile, bottom to top), "blob" (a
    superellipsoid; shape: half-sizes a, b, c and roundnesses along the height and around), or
    "arc" (a tube along part of a circle in the xy plane; shape: radius, thickness, first and
    last angle). span: the share of the surface's height drawn (e.g. a blob's top half).
    texture: a kind and its parameters (see _paint).
    """

    surface: str
    shape: tuple
    offset: tuple = (0.0, 0.0, 0.0)
    turn: float = 0.0  # about the vertical axis, radians
    role: str = "body"  # which palette colour
    texture: tuple = ("solid",)
    span: tuple = (0.0, 1.0)


@dataclass(frozen=True)
class RenderedModel:
    """What stays the same in every photo of one model: its parts and colourways."""

    model_id: str
    category: str
    parts: tuple
    colourways: tuple

    @cached_property
    def bounds(self):
        """(centre, radius) of the model's points."""
        points = np.concatenate([_surface_points(part, 24, 24)[0].reshape(-1, 3) for part in self.parts])
        centre = (points.min(axis=0) + points.max(axis=0)) / 2
        return centre, float(np.linalg.norm(points - centre, axis=1).max())


# ----- the models -----

def model_spec(index, seed):
    """Model number `index` (0-based) of a set drawn with `seed`: categories take turns."""
    order = np.random.default_rng([seed, 0])
    categories = order.permutation(CATEGORIES)
    category = str(categories[index % len(CATEGORIES)])
    rng = np.random.default_rng([seed, 2, index])
    hue = order.random() + index * 0.161
    palette = demo_art.random_palette(hue % 1.0, rng)
    colourways = (palette,)
    if rng.random() < demo.SECOND_COLOURWAY_SHARE:
        colourways += (demo_art.recoloured(palette, rng),)
    # The seed in the id keeps a known set's models apart from a test set's, which evaluation tells by id.
    return RenderedModel(f"S{seed}M{index + 1:03d}", category, tuple(_BUILDERS[category](rng)), colourways)


def _surface_texture(rng):
    kinds = ["solid", "material", "print", "stripes", "checks", "dots"]
    kind = kinds[rng.integers(len(kinds))]
    if kind == "material":
        return ("material", MATERIALS[rng.integers(len(MATERIALS))], float(rng.uniform(0.5, 2.0)))
    if kind == "print":
        return ("print",) + _crop(rng)
    if kind in ("stripes", "checks", "dots"):
        return (kind, int(rng.integers(3, 12)), int(rng.integers(0, 2)))
    return ("solid",)


def _crop(rng):
    """A print: which photograph, and a window of it (left, top, width, height as shares)."""
    width, height = rng.uniform(0.3, 0.7, 2)
    return (PRINTS[rng.integers(len(PRINTS))], float(rng.uniform(0, 1 - width)), float(rng.uniform(0, 1 - height)),
            float(width), float(height))


def _panel(rng, box):
    """A print inside a box (left, right, bottom, top in texture coordinates), the rest solid."""
    return ("panel",) + tuple(box) + _crop(rng)


def _bottle(rng):
    height, radius = rng.uniform(1.5, 2.6), rng.uniform(0.3, 0.6)
    neck, shoulder = radius * rng.uniform(0.22, 0.45), rng.uniform(0.5, 0.78)
    heights = (0, 0, height * shoulder, height * (shoulder + rng.uniform(0.08, 0.2)), height)
    radii = (0, radius, radius * rng.uniform(0.85, 1.05), neck, neck)
    wrap = rng.uniform(0.4, 1.0)
    label = _panel(rng, (0.0, wrap, 0.27, 0.45)) if rng.random() < 0.8 else _surface_texture(rng)
    cap = rng.uniform(0.1, 0.35)
    return [Part("revolve", (heights, radii), texture=label),
            Part("revolve", ((height, height, height + cap, height + cap), (0, neck * 1.2, neck * 1.2, 0)),
                 role=("trim", "accent", "metal")[rng.integers(3)])]


def _mug(rng):
    height, radius = rng.uniform(0.8, 1.4), rng.uniform(0.4, 0.65)
    top, wall = radius * rng.uniform(0.9, 1.25), 0.05
    profile = ((0, 0, height, height, 0.08, 0.08), (0, radius, top, top - wall, radius - wall, 0))
    handle = rng.uniform(0.22, 0.4) * height
    return [Part("revolve", profile, texture=_surface_texture(rng)),
            Part("arc", (handle, rng.uniform(0.04, 0.08), -np.pi / 2, np.pi / 2),
                 offset=(radius + wall, height * rng.uniform(0.45, 0.6), 0.0),
                 role=("body", "accent")[rng.integers(2)])]


def _watch(rng):
    radius, thickness = rng.uniform(0.35, 0.5), rng.uniform(0.08, 0.16)
    bezel = radius * rng.uniform(0.8, 0.92)
    case = ((0, 0, thickness, thickness, thickness * 1.05), (0, radius, radius, bezel, 0))
    strap = ("blob", (radius * rng.uniform(0.5, 0.75), 0.03, rng.uniform(0.5, 0.8), 0.3, 0.2))
    length = strap[1][2]
    strap_texture = _surface_texture(rng)
    return [Part("revolve", case, role="metal", texture=_panel(rng, (0.0, 1.0, 0.75, 1.0))),
            Part(*strap, offset=(0, 0.02, radius + length * 0.9), role="trim", texture=strap_texture),
            Part(*strap, offset=(0, 0.02, -radius - length * 0.9), role="trim", texture=strap_texture),
            Part("revolve", ((0, 0, 0.06, 0.06), (0, 0.04, 0.04, 0)), offset=(radius, thickness / 2, 0),
                 role="metal")]


def _phone(rng):
    width, height, depth = rng.uniform(0.35, 0.6), rng.uniform(0.7, 1.0), rng.uniform(0.035, 0.08)
    round_edge = rng.uniform(0.1, 0.35)
    screen = rng.uniform(0.82, 0.95)
    margin = (1 - screen) / 2
    return [Part("blob", (width, height, depth, round_edge, round_edge),
                 texture=_panel(rng, (margin, 1 - margin, margin, 1 - margin))),
            Part("blob", (0.08, 0.08, 0.02, 1.0, 1.0), offset=(width * 0.5, height * 0.7, -depth), role="metal")]


def _speaker(rng):
    if rng.random() < 0.5:
        height, radius = rng.uniform(0.9, 1.8), rng.uniform(0.35, 0.6)
        return [Part("revolve", ((0, 0, height, height), (0, radius, radius * rng.uniform(0.8, 1.0), 0)),
                     texture=("dots", int(rng.integers(8, 20)), 0)),
                Part("revolve", ((height, height, height + 0.05, height + 0.05), (0, radius * 0.5, radius * 0.5, 0)),
                     role="accent")]
    size = rng.uniform(0.4, 0.9, 3) * (1.0, 1.0, 0.6)
    return [Part("blob", tuple(size) + (rng.uniform(0.15, 0.4), rng.uniform(0.15, 0.4)),
                 texture=_panel(rng, (0.15, 0.85, 0.15, 0.85))),
            Part("blob", (size[0] * 0.4, size[0] * 0.4, 0.02, 1.0, 1.0), offset=(0, 0, size[2]), role="ink")]


def _bag(rng):
    width, height, depth = rng.uniform(0.7, 1.1), rng.uniform(0.5, 0.9), rng.uniform(0.2, 0.4)
    body = (width, height, depth, rng.uniform(0.15, 0.5), rng.uniform(0.15, 0.5))
    parts = [Part("blob", body, texture=_surface_texture(rng)),
             Part("arc", (width * rng.uniform(0.35, 0.7), rng.uniform(0.03, 0.06), 0.15, np.pi - 0.15),
                  offset=(0, height * 0.8, 0), role=("trim", "accent", "metal")[rng.integers(3)])]
    if rng.random() < 0.6:
        parts.append(Part("blob", (width * 0.92, height * rng.uniform(0.3, 0.5), 0.02, 0.3, 0.2),
                          offset=(0, height * 0.5, depth * 0.92), role="accent", texture=_surface_texture(rng)))
    return parts


def _shoe(rng):
    length, width = rng.uniform(0.9, 1.2), rng.uniform(0.3, 0.42)
    upper_height = rng.uniform(0.3, 0.5)
    parts = [Part("blob", (length, rng.uniform(0.05, 0.12), width, 0.3, 0.6), role="trim"),
             Part("blob", (length * 0.9, upper_height, width * 0.92, rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9)),
                  offset=(-0.05, 0.04, 0), texture=_surface_texture(rng), span=(0.5, 1.0)),
             Part("blob", (length * 0.3, upper_height * 0.8, width * 0.6, 0.8, 0.8), offset=(length * 0.2, 0.1, 0),
                  role="accent", texture=("stripes", int(rng.integers(4, 9)), 1), span=(0.5, 1.0))]
    if rng.random() < 0.4:  # a boot's shaft
        shaft = rng.uniform(0.5, 0.9)
        parts.append(Part("revolve", ((0, 0, shaft, shaft), (0, width * 0.9, width * rng.uniform(0.8, 1.1), 0)),
                          offset=(-length * 0.55, upper_height * 0.5, 0), texture=parts[1].texture))
    return parts


_BUILDERS = {"bottle": _bottle, "mug": _mug, "watch": _watch, "phone": _phone, "speaker": _speaker, "bag": _bag,
             "shoe": _shoe}


# ----- surfaces -----

def _surface_points(part, n_around, n_along, u=None, v=None):
    """(points n_along x n_around x 3 in the model's frame, texture coordinates s, t, on the front).

    `u` and `v` (1-D, in [0, 1]) place the samples; by default they are evenly spaced.
    """
    u = np.linspace(0, 1, n_around) if u is None else u
    v = np.linspace(0, 1, n_along) if v is None else v
    u, v = np.meshgrid(u, part.span[0] + (part.span[1] - part.span[0]) * v)
    if part.surface == "revolve":
        heights, radii = (np.asarray(values, float) for values in part.shape)
        knots = np.linspace(0, 1, len(heights))
        y, r = np.interp(v, knots, heights), np.interp(v, knots, radii)
        angle = 2 * np.pi * u
        points = np.stack([r * np.cos(angle), y, r * np.sin(angle)], -1)
        s, t, front = u, v, np.ones_like(u, bool)
    elif part.surface == "blob":
        a, b, c, round_along, round_around = part.shape
        eta, omega = np.pi * (v - 0.5), 2 * np.pi * u - np.pi
        # A sphere's points pushed out along their rays onto the superellipsoid: evenly spread even
        # where the surface is nearly flat and its corners sharp (small roundness).
        ray = np.stack([a * np.cos(eta) * np.cos(omega), b * np.sin(eta), c * np.cos(eta) * np.sin(omega)], -1)
        flat = ray / (a, b, c)
        level = ((np.abs(flat[..., 0]) ** (2 / round_around) + np.abs(flat[..., 2]) ** (2 / round_around))
                 ** (round_around / round_along) + np.abs(flat[..., 1]) ** (2 / round_along))
        points = ray * level[..., None] ** (-round_along / 2)
        s, t, front = (points[..., 0] / a + 1) / 2, (points[..., 1] / b + 1) / 2, points[..., 2] > 0
    else:
        radius, thickness, first, last = part.shape
        theta, phi = first + (last - first) * v, 2 * np.pi * u
        reach = radius + thickness * np.cos(phi)
        points = np.stack([reach * np.cos(theta), reach * np.sin(theta), thickness * np.sin(phi)], -1)
        s, t, front = v, u, np.ones_like(u, bool)
    cos, sin = np.cos(part.turn), np.sin(part.turn)
    points = points @ np.array([[cos, 0, -sin], [0, 1, 0], [sin, 0, cos]]) + np.asarray(part.offset)
    return points, (s, t, front)


def _sample(part, palette, pixels_per_unit):
    """Dense samples of a part, evenly spread over its surface: (points, normals, colours), each n x 3."""
    coarse, _ = _surface_points(part, COARSE, COARSE)
    u, v = (_even_steps(coarse, axis, pixels_per_unit) for axis in (1, 0))
    points, coordinates = _surface_points(part, len(u), len(v), u, v)
    normals = np.cross(np.gradient(points, axis=1), np.gradient(points, axis=0))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True) + 1e-12
    colours = _paint(part, palette, *coordinates)
    return points.reshape(-1, 3), normals.reshape(-1, 3), colours.reshape(-1, 3)


def _even_steps(coarse, axis, pixels_per_unit):
    """Parameter values in [0, 1] along `axis` of a coarse grid of points that are evenly spaced on
    the surface, at DENSITY samples per pixel where the surface is widest across the other axis."""
    steps = np.linalg.norm(np.diff(coarse, axis=axis), axis=-1).max(axis=1 - axis)
    length = np.concatenate([[0.0], np.cumsum(steps)])
    count = int(np.clip(np.ceil(length[-1] * pixels_per_unit * DENSITY), 8, MAX_SAMPLES))
    return np.interp(np.linspace(0, length[-1], count), length, np.linspace(0, 1, len(length)))


# ----- textures -----

@lru_cache(maxsize=None)
def _sample_photo(name):
    """A bundled sample photograph as float RGB."""
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return image[..., :3].astype(np.float32)


def _lookup(name, s, t, window=(0.0, 0.0, 1.0, 1.0), tiles=1.0):
    """Colours of photograph `name` at texture coordinates (s, t) in [0, 1], inside `window`."""
    image = _sample_photo(name)
    left, top, width, height = window
    x = left + width * np.mod(s * tiles, 1.0)
    y = top + height * (1 - np.mod(t * tiles, 1.0))
    rows = np.clip((y * (image.shape[0] - 1)).astype(int), 0, image.shape[0] - 1)
    columns = np.clip((x * (image.shape[1] - 1)).astype(int), 0, image.shape[1] - 1)
    return image[rows, columns]


def _paint(part, palette, s, t, front):
    """Each sample's colour (float RGB 0-255) from the part's texture and the palette."""
    base = np.asarray(palette[part.role], np.float32)
    ink = np.asarray(palette["ink"], np.float32)
    kind, *knobs = part.texture
    solid = np.broadcast_to(base, s.shape + (3,))
    if kind == "solid":
        return solid
    if kind == "material":
        name, tiles = knobs
        grey = _lookup(name, s, t, tiles=tiles)[..., :1] / 255
        return base * (0.55 + 0.6 * grey)
    if kind == "print":
        return _lookup(knobs[0], s, t, knobs[1:])
    if kind == "panel":
        left, right, bottom, top, name, *window = knobs
        inside = front & (s >= left) & (s <= right) & (t >= bottom) & (t <= top)
        local_s, local_t = (s - left) / (right - left), (t - bottom) / (top - bottom)
        return np.where(inside[..., None], _lookup(name, local_s, local_t, window), solid)
    count, across = knobs
    coordinate = s if across else t
    if kind == "stripes":
        marked = np.mod(coordinate * count, 1.0) < 0.5
    elif kind == "checks":
        marked = (np.floor(s * count) + np.floor(t * count)) % 2 == 0
    else:
        marked = np.hypot(np.mod(s * count * 2, 1.0) - 0.5, np.mod(t * count, 1.0) - 0.5) < 0.25
    return np.where(marked[..., None], ink, solid)


# ----- photographing a model -----

def _rotation(rng):
    """Camera rotation: all around the product, from a little below to well above, a tilted camera."""
    azimuth = rng.uniform(0, 2 * np.pi)
    elevation, roll = np.radians(rng.uniform(*ELEVATION_RANGE)), np.radians(rng.uniform(*ROLL_RANGE))
    turn = np.array([[np.cos(azimuth), 0, -np.sin(azimuth)], [0, 1, 0], [np.sin(azimuth), 0, np.cos(azimuth)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(elevation), np.sin(elevation)], [0, -np.sin(elevation), np.cos(elevation)]])
    spin = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    return spin @ tilt @ turn


def render(model, colourway, rng, width, height):
    """The model seen from a random viewpoint: (premultiplied float RGB, alpha 0-1), height x width."""
    centre, radius = model.bounds
    fill = rng.uniform(*FILL_RANGE)
    pixels_per_unit = fill * min(width, height) / (1.6 * radius)
    samples = [_sample(part, model.colourways[colourway], pixels_per_unit) for part in model.parts]
    points, normals, colours = (np.concatenate(column) for column in zip(*samples))
    rotation = _rotation(rng)
    camera, normals = (points - centre) @ rotation.T, normals @ rotation.T
    distance = rng.uniform(3, 7) * radius
    x, y = (camera[:, :2] * (distance / (distance + camera[:, 2]))[:, None]).T
    y = -y
    scale = fill * min(width, height) / max(np.ptp(x), np.ptp(y))
    x = (x - (x.min() + x.max()) / 2) * scale + _centre(np.ptp(x) * scale, width, rng)
    y = (y - (y.min() + y.max()) / 2) * scale + _centre(np.ptp(y) * scale, height, rng)
    rgb, alpha = _splat(x, y, camera[:, 2], _shade(colours, normals, rng), width, height)
    return _fill_pinholes(rgb, alpha)


def _centre(extent, side, rng):
    margin = (side - extent) / 2
    return side / 2 + rng.uniform(-0.8, 0.8) * max(margin - 4, 0)


def _fill_pinholes(rgb, alpha):
    """Empty pixels mostly surrounded by the product (gaps between samples) take their neighbours' colour."""
    cover = cv2.blur(alpha, (3, 3))
    hole = (alpha == 0) & (cover >= 5 / 9)
    rgb[hole] = cv2.blur(rgb, (3, 3))[hole] / cover[hole, None]
    alpha[hole] = 1
    return rgb, alpha


def _shade(colours, normals, rng):
    """Ambient, diffuse and a little specular light from a lamp above the camera, both sides of a surface lit."""
    facing = normals * np.where(normals[:, 2:3] > 0, -1.0, 1.0)  # the camera looks along +z
    light = np.array([0.3, 0.7, -1.0]) + rng.normal(0, 0.35, 3)
    light /= np.linalg.norm(light)
    halfway = light + (0, 0, -1)
    halfway /= np.linalg.norm(halfway)
    ambient = rng.uniform(0.35, 0.55)
    diffuse = np.clip(facing @ light, 0, None)
    specular = np.clip(facing @ halfway, 0, None) ** 24 * rng.uniform(0.1, 0.35)
    return colours * (ambient + (1 - ambient) * diffuse)[:, None] + 255 * specular[:, None]


def _splat(x, y, depth, colours, width, height):
    """The nearest sample in each buffer pixel: (RGB float32, alpha float32)."""
    columns, rows = np.round(x).astype(int), np.round(y).astype(int)
    inside = (columns >= 0) & (columns < width) & (rows >= 0) & (rows < height)
    pixel = (rows * width + columns)[inside]
    order = np.lexsort((depth[inside], pixel))
    nearest = order[np.r_[True, pixel[order][1:] != pixel[order][:-1]]]
    rgb = np.zeros((height * width, 3), np.float32)
    alpha = np.zeros(height * width, np.float32)
    rgb[pixel[nearest]] = np.clip(colours[inside][nearest], 0, 255)
    alpha[pixel[nearest]] = 1
    return rgb.reshape(height, width, 3), alpha.reshape(height, width)


def photograph(model, colourway, rng, background):
    """One seller's photo of a rendered model (demo.write_listings' photographer)."""
    width, height = (int(side) for side in rng.integers(PHOTO_SIDE_RANGE[0], PHOTO_SIDE_RANGE[1] + 1, 2))
    subject, alpha = render(model, colourway, rng, width, height)
    return demo.seller_photo(subject, alpha, background(rng, height, width), rng)


def mixed_background(cluttered_share):
    """A background painter: a crop of a real photograph for `cluttered_share` of the photos, else studio light."""
    def paint(rng, height, width):
        if rng.random() >= cluttered_share:
            return listings.studio_background(rng, height, width)
        photos = scenes.background_photos()
        photo = photos[rng.integers(len(photos))]
        side = rng.uniform(0.35, 1.0)
        crop_h = int(photo.shape[0] * side)
        crop_w = min(photo.shape[1], int(crop_h * width / height))
        top = int(rng.integers(0, photo.shape[0] - crop_h + 1))
        left = int(rng.integers(0, photo.shape[1] - crop_w + 1))
        crop = cv2.resize(photo[top:top + crop_h, left:left + crop_w], (width, height), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(crop.astype(np.float32), (0, 0), rng.uniform(0.3, 2.5))
    return paint


@dataclass(frozen=True)
class RenderSpec:
    """A viewpoint set for listings.write_listing_set: its models, photo counts, backgrounds and photographer."""

    n_models: int
    seed: int
    min_photos: int
    max_photos: int

    def photo_counts(self):
        return listings.long_tailed_counts(self.n_models, self.seed, self.min_photos, self.max_photos)

    def specs(self):
        return [model_spec(index, self.seed) for index in range(self.n_models)]

    def background(self):
        share = np.random.default_rng([self.seed, 8]).uniform(*CLUTTERED_SHARE_RANGE)
        return mixed_background(float(share))

    def photographer(self):
        return photograph


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.renders", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sheet", type=Path, required=True, help="where the picture goes (.png)")
    parser.add_argument("--models", type=int, default=len(CATEGORIES), help="models, a row each (default: %(default)s)")
    parser.add_argument("--photos", type=int, default=8, help="photos of each model (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=41, help="the set's seed (default: %(default)s, viewpoint_tune's)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        spec = RenderSpec(args.models, args.seed, args.photos, args.photos)
        listings.write_listing_set(folder, "sheet", spec)
        paths = sorted((Path(folder) / "raw_img" / "sheet").glob("*.jpg"))
        models = [parse_name(path.name)["model_id"] for path in paths]
        caption = visual.plot_contact_sheet(paths, models, args.sheet, per_row=args.photos, thumb=96)
    print(f"{args.sheet}: {caption}")


if __name__ == "__main__":
    main()
