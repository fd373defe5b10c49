"""Pictures of segmentations with Pillow only: colour masks, overlays, legends, comparison grids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gtaseg.data.transforms import IGNORE

Palette = Sequence[tuple[int, int, int]]

IGNORE_COLOR = (255, 255, 255)  # "no label" pixels of ground-truth masks
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)


def color_table(palette: Palette) -> np.ndarray:
    """[256, 3] uint8 lookup: class index -> colour; 255 (ignore) and unknown indices -> IGNORE_COLOR."""
    if len(palette) > 255:
        raise ValueError(f"{len(palette)} classes do not fit an 8-bit palette (at most 255 classes + ignore)")
    table = np.tile(np.array(IGNORE_COLOR, np.uint8), (256, 1))
    if len(palette):
        table[: len(palette)] = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    return table


def _as_index_array(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be a 2-D array of class indices [H, W], got shape {mask.shape}")
    if not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"a mask must hold integer class indices, got dtype {mask.dtype}")
    # Values outside 0..255 cannot be indexed into the table; show them like ignore.
    return np.where((mask >= 0) & (mask <= 255), mask, IGNORE).astype(np.uint8)


def colorize(mask: np.ndarray, palette: Palette) -> Image.Image:
    """Class-index mask [H, W] -> RGB image in the dataset's colours."""
    return Image.fromarray(color_table(palette)[_as_index_array(mask)], "RGB")


def palette_png(mask: np.ndarray, palette: Palette) -> Image.Image:
    """Class-index mask -> "P" image: pixel values are the classes, the palette gives their colours.

    Such a PNG reads back as indices (np.array(Image.open(p))) and views in colour.
    """
    im = Image.fromarray(_as_index_array(mask), "P")
    im.putpalette(color_table(palette).reshape(-1).tolist())
    return im


def overlay(image: Image.Image | np.ndarray, mask: np.ndarray, palette: Palette, alpha: float = 0.5) -> Image.Image:
    """The colour mask blended on the image: alpha = weight of the mask colours."""
    if isinstance(image, Image.Image):
        base = image.convert("RGB")
    else:
        base = Image.fromarray(np.asarray(image, np.uint8), "RGB")
    colour = colorize(mask, palette)
    if colour.size != base.size:
        raise ValueError(f"mask size {colour.size} differs from image size {base.size} (width, height)")
    return Image.blend(base, colour, alpha)


def font(size: int = 14) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font; scalable when Pillow has FreeType, else the fixed bitmap font."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # old Pillow or no FreeType
        return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, fnt) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=fnt)
    return right - left, bottom - top


def legend(class_names: Sequence[str], palette: Palette, width: int, with_ignore: bool = False,
           font_size: int = 14) -> Image.Image:
    """Colour swatches with class names, wrapped into rows that fit `width` pixels."""
    entries = [(str(n), tuple(c)) for n, c in zip(class_names, palette)]
    if with_ignore:
        entries.append(("ignore", IGNORE_COLOR))
    fnt = font(font_size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    sw, gap, pad = font_size, 6, 10
    line_h = max(sw, _text_size(probe, "Ag", fnt)[1]) + 8
    rows: list[list[tuple[str, tuple, int]]] = [[]]
    x = pad
    for name, colour in entries:
        w = sw + gap + _text_size(probe, name, fnt)[0] + 18
        if rows[-1] and x + w > width - pad:
            rows.append([])
            x = pad
        rows[-1].append((name, colour, x))
        x += w
    im = Image.new("RGB", (width, 2 * pad + line_h * len(rows)), BACKGROUND)
    draw = ImageDraw.Draw(im)
    for r, row in enumerate(rows):
        y = pad + r * line_h
        for name, colour, x in row:
            draw.rectangle([x, y, x + sw, y + sw], fill=colour, outline=(90, 90, 90))
            draw.text((x + sw + gap, y + sw / 2), name, fill=TEXT, font=fnt, anchor="lm")
    return im


def fit_tile(im: Image.Image, size: tuple[int, int], nearest: bool) -> Image.Image:
    """Scale `im` (keeping its aspect ratio) into a size = (width, height) box, centred on white.

    Masks use nearest-neighbour so no colour between two classes appears.
    """
    w, h = im.size
    scale = min(size[0] / w, size[1] / h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    scaled = im.convert("RGB").resize(new, resample)
    tile = Image.new("RGB", size, BACKGROUND)
    tile.paste(scaled, ((size[0] - new[0]) // 2, (size[1] - new[1]) // 2))
    return tile


def comparison_grid(
    images: Sequence[Image.Image],
    predictions: Sequence[Sequence[np.ndarray]],
    labels: Sequence[str],
    class_names: Sequence[str],
    palette: Palette,
    ground_truths: Sequence[np.ndarray] | None = None,
    tile_height: int = 256,
    font_size: int = 16,
) -> Image.Image:
    """One row per image: image | each model's prediction | ground truth; titles on top, legend below.

    predictions[m][i] is model m's mask for image i; every mask has its image's size.
    """
    if len(predictions) != len(labels):
        raise ValueError(f"{len(labels)} labels for {len(predictions)} models; give one label per model")
    for m, preds in enumerate(predictions):
        if len(preds) != len(images):
            raise ValueError(f"model '{labels[m]}' has {len(preds)} predictions for {len(images)} images")
    if ground_truths is not None and len(ground_truths) != len(images):
        raise ValueError(f"{len(ground_truths)} ground-truth masks for {len(images)} images; give one per image")
    titles = ["image", *labels] + (["ground truth"] if ground_truths is not None else [])
    aspect = max(im.size[0] / im.size[1] for im in images)
    tile = (max(1, round(tile_height * aspect)), tile_height)
    gap, fnt = 4, font(font_size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    title_h = _text_size(probe, "Ag", fnt)[1] + 14
    width = len(titles) * tile[0] + (len(titles) + 1) * gap
    with_ignore = ground_truths is not None and any((np.asarray(g) == IGNORE).any() for g in ground_truths)
    key = legend(class_names, palette, width, with_ignore=with_ignore, font_size=max(10, font_size - 2))
    height = title_h + len(images) * (tile[1] + gap) + key.size[1]
    grid = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(grid)
    for c, title in enumerate(titles):
        cx = gap + c * (tile[0] + gap) + tile[0] // 2
        draw.text((cx, title_h // 2), _clip(draw, title, fnt, tile[0]), fill=TEXT, font=fnt, anchor="mm")
    for r, image in enumerate(images):
        row = [fit_tile(image, tile, nearest=False)]
        row += [fit_tile(colorize(preds[r], palette), tile, nearest=True) for preds in predictions]
        if ground_truths is not None:
            row.append(fit_tile(colorize(ground_truths[r], palette), tile, nearest=True))
        y = title_h + r * (tile[1] + gap)
        for c, t in enumerate(row):
            grid.paste(t, (gap + c * (tile[0] + gap), y))
    grid.paste(key, (0, height - key.size[1]))
    return grid


def _clip(draw: ImageDraw.ImageDraw, text: str, fnt, width: int) -> str:
    """Shorten a title with '...' until it fits the column."""
    if _text_size(draw, text, fnt)[0] <= width - 4:
        return text
    while len(text) > 1 and _text_size(draw, text + "...", fnt)[0] > width - 4:
        text = text[:-1]
    return text + "..."
