"""The Train widget's live preview: the visible part of the current slice, predicted by the
worker between two training steps and shown in a Labels (or Image) layer of its own."""

from __future__ import annotations

import numpy as np

from napari_unet._widgets._inputs import (
    input_layers,
    input_region,
    result_placement,
    view_request,
)
from napari_unet._widgets._layers import class_colormap, put_layer
from napari_unet._widgets._training_job import PreviewRequest, PreviewResult


class LivePreview:
    """Preview requests and the preview layer (mixed into the Train widget)."""

    def _request_preview(self) -> None:
        """Post the visible part of the current slice (main thread, cheap) for the worker."""
        if (self._previews is None or self._preview_target is None
                or self.preview_combo.currentIndex() != 0):
            return
        name, axes, _ = self._preview_target
        try:
            layers = input_layers(self.viewer, name)
        except ValueError:
            self._preview_target = None
            return
        index, out_index, region_axes = view_request(self.viewer, layers, axes,
                                                     dims=self._last_config.dims)
        region = input_region(layers, axes, index)
        self._previews.post(PreviewRequest(region, region_axes, out_index))

    def _preview_layer(self):
        """The preview layer of the training image (added, all zeros, when missing)."""
        name, axes, shape = self._preview_target
        layers = input_layers(self.viewer, name)
        shape = tuple(s for s, a in zip(shape, axes) if a != "C")
        regression = self._last_config.task == "regression"
        kind = "image" if regression else "labels"
        layer = self._preview
        if layer is None or layer not in self.viewer.layers or layer.data.shape != shape \
                or layer._type_string != kind:
            selected = self.viewer.layers.selection.active
            data = np.zeros(shape, np.float32 if regression else np.uint8)
            look = {} if regression else {
                "opacity": 0.6,
                "colormap": class_colormap(max(2, len(self._last_config.class_names or [])),
                                           show_background=False),
            }
            layer = put_layer(self.viewer, f"{name} preview", data, kind,
                              **result_placement(layers, axes), **look)
            if selected is not None and selected in self.viewer.layers:
                self.viewer.layers.selection.active = selected  # keep painting where one was
            self._preview = layer
        layer.visible = True
        return layer

    def _show_preview(self, result: PreviewResult) -> None:
        if self._preview_target is None or self.preview_combo.currentIndex() != 0:
            return
        try:
            layer = self._preview_layer()
        except ValueError:  # the image was removed meanwhile
            self._preview_target = None
            return
        layer.data[result.index] = result.data
        layer.refresh()
        self._preview_source = f"{result.source}, step {result.step}"
        if self._last_config.task != "regression":
            self._preview_classes = {int(v) for v in np.unique(result.data)}
