"""The Predict widget's input region: the checked axes of the chosen image and the part of it
(whole stack, current slice or current view) that a prediction covers."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_unet._widgets._inputs import image_input, input_region
from napari_unet._widgets._layers import copy_data, current_indices, visible_region
from napari_unet.core.axes import check_axes, spatial_letters

#: The largest side, in pixels, of a "current view" prediction (a zoomed-out huge image).
VIEW_MAX_SIDE = 2048


class PredictRegion:
    """What to predict (mixed into the Predict widget); uses its ``viewer`` and ``axes_edit``."""

    def _axes(self, data, choice: str, dims: int) -> str:
        """The axes in the axes field (or the image's own), checked, in GUI words."""
        text = self.axes_edit.text().strip()
        if not text:
            _, text, _, _ = image_input(self.viewer, choice, dims=dims)
        axes = check_axes(text, ndim=np.ndim(data), what=f"the axes of image {choice!r}")
        if dims == 3 and "Z" not in axes:
            if "T" in axes:
                raise ValueError(
                    f"image {choice!r} is a time series (axes {axes}), and a 3D model needs a "
                    "depth (Z) axis: predict it with a 2D model (each time point on its own), or "
                    "correct the axes field if that axis is depth"
                )
            raise ValueError(
                f"image {choice!r} has no depth (Z) axis (axes {axes}), and the model is 3D: "
                "predict it with a 2D model, or correct the axes field"
            )
        return axes

    def _region(self, layers: list, data, axes: str, dims: int, scope: str
                ) -> tuple[Any, tuple, str]:
        """The data to predict, its index in the whole output, and its axes.

        For the whole stack: a copy of numpy data (lazy data as it is) and an empty index.
        Otherwise the index holds one integer per stack axis (the viewer's current slice) and
        slices of the visible region ("current view") or of the whole plane, and the region
        is a copy (numpy) or a lazy slice that the worker reads: only that region is read, and
        not on the main thread. The channel axis is kept.
        """
        layer = layers[0]
        shown = axes.replace("C", "") if len(layers) > 1 or layer.rgb else axes
        spatial = spatial_letters(dims)
        n_lead = len(shown) - dims
        whole = scope == "whole stack" or (scope == "current slice" and not
                                           (set(shown[:n_lead]) - {"C"}))
        if whole:
            return (copy_data(layer) if len(layers) == 1 else data), (), axes
        if not shown.endswith(spatial):
            raise ValueError(
                f"image {layer.name!r} has its axes in the order {axes}, with {spatial} not "
                "last: predict the whole stack"
            )
        lead = current_indices(self.viewer, layer, n_lead)
        if scope == "current view":
            view = visible_region(layer, n_lead, max_side=VIEW_MAX_SIDE)
            if any(v.stop - v.start < 2 for v in view):
                raise ValueError("the current view shows too little of the image to predict it")
        else:
            view = tuple(slice(0, n) for n in np.shape(layer.data)[n_lead:n_lead + dims])
        where: dict[str, Any] = dict(zip(shown[:n_lead], lead))
        where.update(zip(spatial, view))
        where["C"] = slice(None)
        source = tuple(where[a] for a in axes)
        region = input_region(layers, axes, source)
        index = tuple(where[a] for a in axes if a != "C")
        sub_axes = "".join(a for a in axes if not isinstance(where[a], int))
        return region, index, sub_axes
