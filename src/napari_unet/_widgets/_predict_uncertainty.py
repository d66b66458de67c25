"""The Predict widget's "where to paint next": the view moved to the region of the
uncertainty result where the model is least sure."""

from __future__ import annotations

import numpy as np

from napari_unet._widgets._layers import current_indices
from napari_unet._widgets._results import result_info
from napari_unet.core.prediction.uncertainty import most_uncertain_window

#: The side, in pixels, of the region "Go to the most uncertain region" looks for.
UNCERTAIN_WINDOW = 64


class UncertaintyNavigation:
    """Going to the least sure region (mixed into the Predict widget); uses its ``viewer``,
    ``image_combo`` and ``status``."""

    def _uncertainty_layer(self):
        """The uncertainty result of the chosen image (else the newest one), or None."""
        found = [lyr for lyr in self.viewer.layers
                 if result_info(lyr).get("result") == "uncertainty"]
        chosen = self.image_combo.currentText()
        for lyr in found:
            if result_info(lyr).get("image") in (chosen, chosen.rsplit(" (", 1)[0]):
                return lyr
        return found[-1] if found else None

    def go_to_uncertain(self) -> tuple[slice, ...] | None:
        """Move the view to the region where the model is least sure, so the user paints there.

        Searches the uncertainty result of the current stack (the current time point and
        sample; every slice of a depth stack) for the :data:`UNCERTAIN_WINDOW`-pixel window
        of highest mean uncertainty (:func:`~napari_unet.core.prediction.uncertainty.
        most_uncertain_window`), then moves the slice sliders and the camera's centre there.
        Returns the window (data indices of the uncertainty layer), or None when there is no
        uncertainty result.
        """
        layer = self._uncertainty_layer()
        if layer is None:
            self.status.setText("no uncertainty yet: predict with the 'uncertainty' output ticked")
            return None
        info = result_info(layer)
        axes = info.get("axes") or "ZYX"[-layer.ndim:]
        dims = int(info.get("model_dims", 2))
        here = current_indices(self.viewer, layer, layer.ndim)
        fixed = tuple(here[i] if a in "TS" else slice(None) for i, a in enumerate(axes))
        free = [a for a in axes if a not in "TS"]
        window = [UNCERTAIN_WINDOW if a in "YX" else (1 if dims == 2 else 8) for a in free]
        found = most_uncertain_window(layer.data[fixed], window)
        it = iter(found)
        full = tuple(f if isinstance(f, int) else next(it) for f in fixed)
        centre = [f if isinstance(f, int) else (f.start + f.stop - 1) / 2 for f in full]
        self._centre_on(layer, centre)
        parts = []
        for a, f in zip(axes, full):
            if isinstance(f, slice):
                span = f"{f.start}" if f.stop - f.start == 1 else f"{f.start}–{f.stop - 1}"
                parts.append(f"{a} {span}")
        where = ", ".join(parts)
        self.status.setText(f"least sure around {where}: paint there next")
        return full

    def _centre_on(self, layer, position) -> None:
        """Move the sliders and the camera's centre to ``position`` (data coordinates of
        ``layer``), keeping the zoom."""
        world = np.asarray(layer.data_to_world(position))
        offset = self.viewer.dims.ndim - layer.ndim
        displayed = set(self.viewer.dims.displayed)
        for i, value in enumerate(world):
            if offset + i not in displayed:
                self.viewer.dims.set_point(offset + i, float(value))
        camera = self.viewer.scene.camera if hasattr(self.viewer, "scene") else \
            self.viewer.camera
        camera.center = tuple(float(world[d - offset]) for d in self.viewer.dims.displayed
                              if d >= offset)
