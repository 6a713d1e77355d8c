"""Image grids: every image tiled into one PNG mosaic, grey images, clipping, validation."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from uqviz.plots import image_grid_figure


def _decode(fig: go.Figure) -> np.ndarray:
    source = fig.data[0].source
    assert source.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))


def test_image_grid_tiles_every_image_rgb():
    rng = np.random.default_rng(3)
    images = rng.random((5, 3, 6, 7))
    captions = [f"pred {i}" for i in range(5)]
    fig = image_grid_figure(images, captions, columns=2)
    meta = fig.layout.meta
    assert (meta["rows"], meta["columns"]) == (3, 2)
    mosaic = _decode(fig)
    step_y, step_x = 6 + meta["band"] + meta["gap"], 7 + meta["gap"]
    assert mosaic.shape == (3 * step_y - meta["gap"], 2 * step_x - meta["gap"], 3)
    expected = np.rint(images * 255).astype(np.uint8).transpose(0, 2, 3, 1)
    for i in range(5):
        top, left = (i // 2) * step_y, (i % 2) * step_x
        np.testing.assert_array_equal(mosaic[top : top + 6, left : left + 7], expected[i])
    assert [a.text for a in fig.layout.annotations] == captions
    hover = next(t for t in fig.data if isinstance(t, go.Scatter))
    assert list(hover.hovertext) == captions


def test_image_grid_grey_images_and_clipping():
    images = np.zeros((3, 1, 4, 4))
    images[1] = 0.5
    images[2] = 1.7  # clipped to white
    fig = image_grid_figure(images, columns=8)
    mosaic = _decode(fig)
    assert fig.layout.meta["band"] == 0 and not fig.layout.annotations
    gap = fig.layout.meta["gap"]
    assert mosaic.shape == (4, 3 * 4 + 2 * gap, 3)
    assert (mosaic[:, :4] == 0).all()
    assert (mosaic[:, 4 + gap : 8 + gap] == 128).all()
    assert (mosaic[:, 8 + 2 * gap :] == 255).all()
    with pytest.raises(ValueError, match="2 entries for 3 images"):
        image_grid_figure(images, ["a", "b"])
    with pytest.raises(ValueError, match="C = 1 or 3"):
        image_grid_figure(np.zeros((2, 2, 4, 4)))
