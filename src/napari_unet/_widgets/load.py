"""The Load dock widget: open images (lazily when big) and add paint layers matched to them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QWidget,
)

from napari_unet._widgets._base import DockWidget
from napari_unet._widgets._jobs import explain
from napari_unet._widgets._layers import class_colormap, get_layer, layer_names, refill_combo
from napari_unet.core.imagefile import ImageFile, channel_layers, open_image
from napari_unet.core.io import classes_dtype, expand_inputs

if TYPE_CHECKING:
    import napari

def parse_voxel_size(text: str) -> tuple[float, ...] | None:
    """``"0.3, 0.1, 0.1"`` -> ``(0.3, 0.1, 0.1)``; empty -> None.

    Raises
    ------
    ValueError
        When a value is not a positive number.
    """
    text = text.strip()
    if not text:
        return None
    try:
        values = tuple(float(v) for v in text.replace(";", ",").replace(" ", ",").split(",") if v)
    except ValueError as err:
        raise ValueError(f"voxel size {text!r}: expected numbers such as '0.3, 0.1, 0.1'") from err
    if any(v <= 0 for v in values):
        raise ValueError(f"voxel size {text!r}: every value must be positive")
    return values


def stack_arrays(arrays: list[Any]) -> Any:
    """Stack same-shaped images along a new first axis (lazily when any of them is lazy)."""
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) > 1:
        raise ValueError(
            f"cannot stack images of different shapes {sorted(shapes)}; "
            "untick 'several files as one stack' to open them as separate layers"
        )
    if all(isinstance(a, np.ndarray) for a in arrays):
        return np.stack(arrays)
    import dask.array as da

    return da.stack([a if hasattr(a, "dask") else
                     da.from_array(a, chunks=a.chunks if hasattr(a, "chunks") else "auto")
                     for a in arrays])


def _voxel_scale(voxel: tuple[float, ...], axes: str | None, ndim: int,
                 scale: tuple[float, ...] | None, *, name: str) -> tuple[float, ...]:
    """A layer's scale with the typed voxel size on its spatial axes (Z, Y, X of ``axes``;
    the last dimensions when the axes are unknown); other axes keep theirs."""
    spatial = [i for i, a in enumerate(axes) if a in "ZYX"] if axes else \
        list(range(ndim - len(voxel), ndim))
    if len(voxel) != len(spatial) or not spatial or spatial[0] < 0:
        raise ValueError(f"voxel size has {len(voxel)} values; the image {name!r} has "
                         f"{len(spatial) if axes else ndim} spatial axes")
    out = list(scale or (1.0,) * ndim)
    for i, v in zip(spatial, voxel):
        out[i] = v
    return tuple(out)


class LoadWidget(DockWidget):
    """Open images for segmentation and add a paint layer matched to an image."""

    TITLE = "Load"
    DESCRIPTION = (
        "Opens files or a folder (tif, OME-TIFF, zarr, OME-Zarr, czi, nd2, lif, png, jpg, npy) "
        "as image layers, lazily, with the axes, voxel size and channel names the files store "
        "(what you type wins); channels become one layer each; adds a paint layer (Labels) "
        "matched to an image, with named classes: 0 = not painted, 1 = background, 2.. = your "
        "structures."
    )

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None):
        super().__init__(napari_viewer, parent)
        box = QGroupBox("Open images")
        form = QFormLayout(box)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("files (separated by ;) or a folder")
        self.path_edit.editingFinished.connect(self._refresh_scenes)
        files = QPushButton("files…")
        folder = QPushButton("folder…")
        files.clicked.connect(self._pick_files)
        folder.clicked.connect(self._pick_folder)
        row = QHBoxLayout()
        row.addWidget(self.path_edit)
        row.addWidget(files)
        row.addWidget(folder)
        form.addRow(row)
        self.stack_check = QCheckBox("several files as one stack")
        self.stack_check.setChecked(True)
        self.axes_edit = QLineEdit()
        self.axes_edit.setPlaceholderText("e.g. ZYX, CZYX, TYX (empty: as the file says)")
        self.voxel_edit = QLineEdit()
        self.voxel_edit.setPlaceholderText("e.g. 0.3, 0.1, 0.1 (empty: as the file says)")
        self.scene_combo = QComboBox()
        self.scene_combo.setToolTip("the scene (series) of a multi-scene file to open")
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(self.open)
        form.addRow(self.stack_check)
        form.addRow("axes", self.axes_edit)
        form.addRow("voxel size", self.voxel_edit)
        form.addRow("scene", self.scene_combo)
        self._scene_row = form.rowCount() - 1
        form.setRowVisible(self._scene_row, False)
        self._open_form = form
        form.addRow(self.open_button)
        self.body.addWidget(box)

        paint = QGroupBox("Paint layer")
        form = QFormLayout(paint)
        self.image_combo = QComboBox()
        self.class_list = QListWidget()
        self.class_list.setMaximumHeight(90)
        for name in ("background", "foreground"):
            self._add_class_item(name)
        add = QPushButton("add class")
        remove = QPushButton("remove class")
        add.clicked.connect(lambda: self._add_class_item(f"class {self.class_list.count() + 1}"))
        remove.clicked.connect(self._remove_class)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        self.paint_button = QPushButton("Add paint layer")
        self.paint_button.clicked.connect(self.add_paint_layer)
        form.addRow("image", self.image_combo)
        form.addRow("classes (1, 2, …)", self.class_list)
        form.addRow(row)
        form.addRow(self.paint_button)
        self.body.addWidget(paint)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self._refresh_layers()

    # ---------------------------------------------------------------- classes
    def _add_class_item(self, name: str) -> None:
        item = QListWidgetItem(name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        self.class_list.addItem(item)

    def _remove_class(self) -> None:
        if self.class_list.count() > 2:
            self.class_list.takeItem(self.class_list.count() - 1)

    def class_names(self) -> list[str]:
        """The class names in painting order (value 1 first)."""
        return [self.class_list.item(i).text().strip() or f"class {i + 1}"
                for i in range(self.class_list.count())]

    def _refresh_layers(self, *_) -> None:
        refill_combo(self.image_combo, layer_names(self.viewer, "image"))

    # ---------------------------------------------------------------- open
    def _pick_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Images")
        if paths:
            self.path_edit.setText(";".join(paths))
            self._refresh_scenes()

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of images")
        if path:
            self.path_edit.setText(path)
            self._refresh_scenes()

    def _paths(self) -> list[Path]:
        text = self.path_edit.text().strip()
        if not text:
            raise ValueError("give files or a folder to open")
        return expand_inputs([p for p in text.split(";") if p.strip()], what="image")

    def _refresh_scenes(self) -> None:
        """Fill the scene picker when one file with several scenes is chosen; hide it else."""
        scenes: tuple[str, ...] = ()
        try:
            paths = self._paths()
            if len(paths) == 1:
                scenes = open_image(paths[0], lazy=True).scenes  # headers only
        except (ValueError, FileNotFoundError):
            scenes = ()
        self.scene_combo.clear()
        if len(scenes) > 1:
            self.scene_combo.addItems(list(scenes))
        self._open_form.setRowVisible(self._scene_row, len(scenes) > 1)

    def _report(self, err: Exception) -> None:
        from napari.utils.notifications import show_error

        show_error(explain(err))

    def open(self) -> list:
        """Open the chosen files as image layers; returns the new layers."""
        try:
            return self._open()
        except (ValueError, FileNotFoundError) as err:
            self._report(err)
            return []

    def _open(self) -> list:
        paths = self._paths()
        scene = self.scene_combo.currentText() if len(paths) == 1 and \
            self.scene_combo.count() > 1 else None
        images = [open_image(p, scene=scene, lazy=True) for p in paths]
        axes = self.axes_edit.text().strip().upper() or None
        voxel = parse_voxel_size(self.voxel_edit.text())
        if len(images) > 1 and self.stack_check.isChecked():
            first = images[0]
            images = [ImageFile(Path(paths[0]).parent, stack_arrays([i.data for i in images]),
                                None, first.scale, first.units, first.channel_names)]
            names: list[str | None] = [Path(paths[0]).parent.name or "stack"]
        else:
            names = [None] * len(images)
        specs = []  # every layer checked before any is added
        for image, name in zip(images, names):
            for data, options in channel_layers(image, axes=axes, name=name):
                if voxel is not None:
                    options["scale"] = _voxel_scale(voxel, options["metadata"].get("axes"),
                                                    data.ndim, options.get("scale"),
                                                    name=options["name"])
                specs.append((data, options))
        return [self.viewer.add_image(data, **options) for data, options in specs]

    # ---------------------------------------------------------------- paint
    def add_paint_layer(self):
        """A Labels layer matched to the chosen image (shape, scale, translate), all unpainted.

        Its classes are the class list's: label colours (value 1 = the first class) and a
        ``features`` table with a ``"class"`` column, so napari's status bar names the class
        under the cursor. An image with a channel axis C (its axes) gets a painting without it.
        """
        from napari_unet._widgets._inputs import layer_axes
        from napari_unet._widgets._layers import class_features

        try:
            image = get_layer(self.viewer, self.image_combo.currentText(), "image")
            axes = layer_axes(image, dims=2)
        except ValueError as err:
            self._report(err)
            return None
        shape = image.data.shape[:-1] if image.rgb else image.data.shape
        keep = [i for i, a in enumerate(axes[:len(shape)]) if a != "C"]  # napari's dims
        names = self.class_names()
        layer = self.viewer.add_labels(
            np.zeros(tuple(shape[i] for i in keep), classes_dtype(len(names))),
            name=f"{image.name} paint",
            scale=[image.scale[i] for i in keep],
            translate=[image.translate[i] for i in keep],
            units=[image.units[i] for i in keep],
            colormap=class_colormap(len(names)),
            opacity=0.8,
            features=class_features(names),
            metadata={"napari_unet": {"class_names": names},
                      "axes": "".join(a for a in axes if a != "C")},
        )
        layer.selected_label = 2 if len(names) > 1 else 1
        layer.mode = "paint"
        self.viewer.layers.selection.active = layer
        return layer
