"""Images in a grid: one PNG mosaic with a caption under each tile (``image_grid_figure``), and
the PNG data URI it is drawn from (``png_data_uri``, also used by the embedding map)."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from uqviz.plots.theme import TEXT_COLOR, finish

__all__ = ["image_grid_figure"]

ASSUMED_DISPLAY_WIDTH = 760  # px, to size image grids whose aspect ratio is fixed
CAPTION_CHAR_WIDTH = 6.5  # px per character of an 11 px caption, to truncate captions


def png_data_uri(pixels: np.ndarray) -> str:
    from PIL import Image  # pillow is a runtime dependency; imported only when drawing images

    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def image_grid_figure(
    images,
    captions: Sequence[str] | None = None,
    *,
    columns: int = 8,
    caption_colors: Sequence[str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """A grid of images with a caption under each, as one PNG (small and fast to send).

    The images are tiled into one RGB mosaic (white gaps, a caption band under each row when
    captions are given), encoded as a PNG data URI in a single ``go.Image``. Hovering a tile
    shows its full caption.

    Args:
        images: (N, C, H, W) floats in [0, 1] with C = 1 (grey) or 3 (RGB), or (N, H, W);
            values outside [0, 1] are clipped for display.
        captions: N captions (shown truncated to fit; complete on hover).
        columns: tiles per row.
        caption_colors: N caption colours (e.g. ``CORRECT_COLOR`` / ``WRONG_COLOR``).
        title: figure title.

    Returns:
        The figure; ``fig.layout.meta`` holds the tile geometry
        ``{"tile_height", "tile_width", "gap", "band", "rows", "columns"}``.
    """
    array = np.asarray(images, dtype=np.float32)
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C = 1 or 3, or (N, H, W), "
                         f"got shape {np.asarray(images).shape}")
    n, _, h, w = array.shape
    if n == 0:
        raise ValueError("images is empty: nothing to show")
    if isinstance(columns, bool) or int(columns) != columns or columns < 1:
        raise ValueError(f"columns must be an integer >= 1, got {columns!r}")
    if captions is not None and len(captions) != n:
        raise ValueError(f"captions has {len(captions)} entries for {n} images")
    if caption_colors is not None and len(caption_colors) != n:
        raise ValueError(f"caption_colors has {len(caption_colors)} entries for {n} images")
    cols = min(int(columns), n)
    rows = math.ceil(n / cols)
    gap = max(1, round(w / 14))
    band = max(6, round(0.32 * h)) if captions is not None else 0
    step_y, step_x = h + band + gap, w + gap
    mosaic_h, mosaic_w = rows * step_y - gap, cols * step_x - gap
    pixels = np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    pixels = np.repeat(pixels, 3, axis=1) if pixels.shape[1] == 1 else pixels
    mosaic = np.full((mosaic_h, mosaic_w, 3), 255, dtype=np.uint8)
    for i in range(n):
        top, left = (i // cols) * step_y, (i % cols) * step_x
        mosaic[top : top + h, left : left + w] = pixels[i].transpose(1, 2, 0)
    fig = go.Figure(go.Image(source=png_data_uri(mosaic), x0=0, y0=0, dx=1, dy=1,
                             hoverinfo="skip"))
    if captions is not None:
        tops = (np.arange(n) // cols) * step_y
        centres_x = (np.arange(n) % cols) * step_x + (w - 1) / 2.0
        limit = max(4, int(ASSUMED_DISPLAY_WIDTH / cols / CAPTION_CHAR_WIDTH))
        colors = [TEXT_COLOR] * n if caption_colors is None else list(caption_colors)
        fig.update_layout(annotations=[
            dict(x=float(centres_x[i]), y=float(tops[i] + h - 0.5 + band / 2.0), xref="x",
                 yref="y", text=_truncate(str(captions[i]), limit), showarrow=False,
                 font=dict(size=11, color=colors[i]), xanchor="center", yanchor="middle")
            for i in range(n)
        ])
        fig.add_trace(
            go.Scatter(x=centres_x, y=tops + (h - 1) / 2.0, mode="markers",
                       marker=dict(size=24, opacity=0), hovertext=[str(t) for t in captions],
                       hovertemplate="%{hovertext}<extra></extra>", showlegend=False)
        )
    fig.update_xaxes(visible=False, range=[-0.5, mosaic_w - 0.5], showgrid=False)
    fig.update_yaxes(visible=False, range=[mosaic_h - 0.5, -0.5], showgrid=False,
                     scaleanchor="x", constrain="domain")
    top_margin = 48 if title else 8
    display_width = min(ASSUMED_DISPLAY_WIDTH, mosaic_w * 8)
    height = int(min(2000, max(120, display_width * mosaic_h / mosaic_w + top_margin + 8)))
    meta = {"tile_height": h, "tile_width": w, "gap": gap, "band": band, "rows": rows,
            "columns": cols}
    return finish(fig, title=title, height=height, margin=dict(l=4, r=4, t=top_margin, b=4),
                   meta=meta, showlegend=False)
