"""The Train widget's inputs: the image and paint layers it offers, the pairs to train on,
their axes and classes, the data gathered for a run and the TrainConfig the controls describe."""

from __future__ import annotations

import numpy as np

from napari_unet._widgets._inputs import (
    image_choices,
    input_axes,
    input_layers,
    set_input_axes,
    training_axes,
)
from napari_unet._widgets._jobs import explain
from napari_unet._widgets._layers import (
    class_names_of,
    get_layer,
    layer_names,
    painted_values,
    refill_combo,
)
from napari_unet.core.training.augment import AugmentConfig
from napari_unet.core.training.targets import check_classes, check_shapes
from napari_unet.core.training.train import TrainConfig


class TrainingInputs:
    """Layer choices, pairs and config (mixed into the Train widget); uses its ``viewer``,
    ``status`` and the controls of :class:`TrainControls` (combos, ``axes_edit``,
    ``classes_label``, ``pair_list``, the Advanced fields, ``preset_cap``, ``patience``)."""

    # ---------------------------------------------------------------- layers
    def _refresh_layers(self, *_) -> None:
        refill_combo(self.image_combo, image_choices(self.viewer))
        targets = layer_names(self.viewer, "labels")
        if self.task_combo.currentText() == "regression":
            targets += layer_names(self.viewer, "image")
        refill_combo(self.labels_combo, targets)
        if self.labels_combo.currentIndex() < 0 and targets:
            self.labels_combo.setCurrentIndex(0)
        self._show_axes()
        self._show_classes()

    def _dims(self) -> int:
        return 3 if self.dims_combo.currentText() == "3D" else 2

    def _show_axes(self, *_) -> None:
        """Show the chosen image's axes (the layer's, or the core's guess) in the axes field."""
        try:
            axes = input_axes(input_layers(self.viewer, self.image_combo.currentText()),
                              dims=self._dims())
        except ValueError:
            axes = ""
        self._shown_axes = axes
        self.axes_edit.setText(axes)

    def _axes_edited(self) -> None:
        """Keep axes typed in the field with the chosen image's layer(s) (metadata only)."""
        if not self.axes_edit.isModified():  # shown, not typed: a guess stays a guess
            return
        self.axes_edit.setModified(False)
        text = self.axes_edit.text().strip().upper()
        try:
            layers = input_layers(self.viewer, self.image_combo.currentText())
            self._shown_axes = set_input_axes(layers, text)
            self.axes_edit.setText(self._shown_axes)
        except ValueError as err:
            self.status.setText(f"axes not changed: {explain(err)}")
            self.axes_edit.setText(getattr(self, "_shown_axes", ""))

    def _show_classes(self, *_) -> None:
        """Show the classes the model will learn: the paint layer's names."""
        task = self.task_combo.currentText()
        if task != "semantic":
            self.classes_label.setText("objects and background (from an instance mask)"
                                       if task == "instances" else "a value per pixel")
            return
        try:
            names = class_names_of(get_layer(self.viewer, self.labels_combo.currentText(),
                                             "labels"))
        except ValueError:
            names = []
        self.classes_label.setText(
            " · ".join(f"{i} {n}" for i, n in enumerate(names, 1)) if names
            else "the painted values 1..K (1 = background; name them with Load's "
                 "Add paint layer)")

    def _add_pair(self) -> None:
        image, labels = self.image_combo.currentText(), self.labels_combo.currentText()
        if image and labels:
            self.pair_list.addItem(f"{image}  ←  {labels}")

    def _remove_pair(self) -> None:
        for item in self.pair_list.selectedItems():
            self.pair_list.takeItem(self.pair_list.row(item))

    def pair_names(self) -> list[tuple[str, str]]:
        """The (image, target) layer names to train on."""
        if self.pair_list.count():
            items = [self.pair_list.item(i).text() for i in range(self.pair_list.count())]
            return [tuple(part.strip() for part in text.split("←")) for text in items]
        return [(self.image_combo.currentText(), self.labels_combo.currentText())]

    # ---------------------------------------------------------------- config
    def make_config(self, axes: str) -> TrainConfig:
        """The :class:`TrainConfig` that the controls describe."""
        dims = 3 if self.dims_combo.currentText() == "3D" else 2
        side = self.patch_spin.value()
        # 3D: 16 slices and three quarters of the 2D side in-plane, as the core's default
        patch = [side, side] if dims == 2 else [16] + [max(32, side * 3 // 4)] * 2
        seconds = self.budget_kind.currentText() == "seconds"
        start = "none" if self.start_combo.currentText() == "random weights" else "auto"
        config = TrainConfig(
            task=self.task_combo.currentText(),
            axes=axes,
            dims=dims,
            depth=self.depth_spin.value(),
            base_channels=self.width_spin.value(),
            patch_shape=patch,
            batch_size=self.batch_spin.value() or None,
            lr=self.lr_spin.value(),
            # a step budget (the presets) keeps the preset's time cap and early stopping
            max_seconds=float(self.budget_spin.value()) if seconds else self.preset_cap,
            max_steps=None if seconds else self.budget_spin.value(),
            patience=self.patience,
            start=start,
        )
        if self.augment_combo.currentText() == "off":
            config.augment = AugmentConfig.off().to_dict()
        return config

    def _gather(self) -> tuple[list, list[tuple[str, str]], str, dict]:
        """The chosen inputs' data (not copied: the worker copies), their names, the shared
        axes and facts (class names, the first input's shape).

        Only what is cheap is checked here (axes, shapes, painted classes, each pass over a
        painting once); the worker checks the rest (dtypes, NaN) before it trains.
        """
        dims = self._dims()
        task = self.task_combo.currentText()
        self._axes_edited()  # a typed but unconfirmed axes edit counts
        names = self.pair_names()
        pairs, shapes, axes_seen, painted = [], [], set(), set()
        class_names: list[str] = []
        for image_name, target_name in names:
            layers = input_layers(self.viewer, image_name)
            axes = training_axes(input_axes(layers, dims=dims), dims=dims, image=image_name)
            shape = tuple(layers[0].data.shape) if len(layers) == 1 else (
                len(layers), *layers[0].data.shape)
            kind = "labels"
            if task == "regression" and not any(
                layer.name == target_name and layer._type_string == "labels"
                for layer in self.viewer.layers
            ):
                kind = "image"
            target = get_layer(self.viewer, target_name, kind)
            check_shapes(shape, target.data.shape, axes=axes, dims=dims, task=task,
                         index=len(pairs))
            axes_seen.add(axes)
            if task == "semantic":
                painted.update(int(v) for v in painted_values(target.data))
            # the data as they are: the worker takes its copies (training_job)
            pairs.append((layers[0].data if len(layers) == 1 else [lay.data for lay in layers],
                          target.data))
            shapes.append(shape)
            class_names = class_names or class_names_of(target)
        if task == "semantic":  # paint 1..K -> classes 0..K-1, checked by the core's rule
            check_classes([np.array(sorted(painted), np.int64) - 1], task="semantic")
        if len(axes_seen) > 1:
            raise ValueError(
                f"the training images have different axes {sorted(axes_seen)}; train on images "
                "of one kind (all 2D, or all stacks)"
            )
        return pairs, names, axes_seen.pop(), {"class_names": class_names,
                                               "shape": shapes[0]}
