"""The Predict widget's result layers: what each is called, holds and looks like."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from napari_unet._widgets._layers import class_colormap


def is_result(layer) -> bool:
    """Whether ``layer`` is a result of the Predict widget (not an image to predict)."""
    meta = getattr(layer, "metadata", None) or {}
    return bool(meta.get("napari_unet", {}).get("result")) or layer.name.endswith(
        (" probabilities", " uncertainty"))


def probability_channels(model) -> list[tuple[int, str]]:
    """(channel, layer name suffix) of the probability layers: one per structure class.

    Classes 2..K for a K-class model (for a 2-class model just the foreground; class 1 is
    the background); each output channel of a regression model.
    """
    k = model.out_channels
    if model.meta.get("task") == "regression":
        return [(c, "output" if k == 1 else f"output {c + 1}") for c in range(k)]
    names = model.meta.get("class_names") or []
    return [(c, f"{names[c] if c < len(names) else f'class {c + 1}'} probability")
            for c in (range(1, k) if k >= 2 else range(k))]


def _channel(data, c: int):
    """Channel ``c`` of a (K, ...) result: a numpy view, or a lazy dask slice of zarr/dask."""
    if isinstance(data, np.ndarray):
        return data[c]
    import dask.array as da

    return (data if isinstance(data, da.Array) else da.from_zarr(data))[c]


def _class_colormap(color: str):
    """Black to the class colour: adds the class's colour over the image (additive)."""
    from napari.utils.colormaps import Colormap
    from napari.utils.colormaps.standardize_color import transform_color

    rgba = transform_color(color)[0]
    return Colormap([[0.0, 0.0, 0.0, 1.0], rgba], name=f"napari-unet {color}")


def result_specs(name: str, results: dict, model, shape: tuple, *,
                 info: dict | None = None) -> list:
    """(layer name, data, full shape, kind, layer keywords) of each result layer.

    Probabilities come as one Image layer per structure class, with no class axis (no extra
    slider), blended additively in the class colour; hidden when the classes are shown too.
    ``info`` goes into every result layer's ``metadata["napari_unet"]`` (e.g. the result's
    axes, its zarr store, the image it came from).
    """
    info = dict(info or {})
    k = model.out_channels
    colors = class_colormap(max(k, 2))
    regression = model.meta.get("task") == "regression"
    specs = []
    for kind, data in results.items():
        axes = {"axes": info["axes"]} if info.get("axes") else {}  # as image layers have
        meta = {**axes, "napari_unet": {**info, "result": kind}}
        if kind == "probabilities":
            for c, suffix in probability_channels(model):
                look = {"colormap": "magma"} if regression else {
                    "colormap": _class_colormap(colors.get(c + 1, "#ffffff")),
                    "contrast_limits": (0.0, 1.0)}
                specs.append((f"{name} {suffix}", _channel(data, c), shape, "image", {
                    **look, "blending": "additive", "visible": "classes" not in results,
                    "metadata": {**axes, "napari_unet": {
                        **info, "result": kind, "channel": c, "class_value": c + 1}}}))
        elif kind == "uncertainty":
            specs.append((f"{name} uncertainty", data, shape, "image", {
                "colormap": "inferno", "contrast_limits": (0.0, 1.0), "visible": False,
                "blending": "additive", "metadata": meta}))
        elif kind == "classes":
            specs.append((f"{name} classes", data, shape, "labels", {
                "colormap": class_colormap(k, show_background=False), "opacity": 0.6,
                "metadata": meta}))
        else:
            specs.append((f"{name} {kind}", data, shape, "labels", {"metadata": meta}))
    return specs


def result_info(layer) -> dict:
    """What the Predict widget recorded about a result layer (empty for other layers)."""
    meta = getattr(layer, "metadata", None) or {}
    info = meta.get("napari_unet", {})
    return info if isinstance(info, dict) and info.get("result") else {}


class ResultStores:
    """The zarr folders that hold the results of lazy images, and their removal.

    Each prediction of a lazy image writes into a fresh folder made by :meth:`new` inside a
    folder the user chose (default: the system temp folder). A folder is removed by
    :meth:`sweep` as soon as no layer shows it any more (its layers were removed or their
    data replaced by a newer prediction), and by :meth:`remove_all` when the viewer closes or
    Python exits, unless it was made with ``keep=True``.
    """

    def __init__(self) -> None:
        self.owned: dict[Path, bool] = {}  # folder -> keep
        atexit.register(self.remove_all)

    def new(self, folder: str | Path | None = None, *, keep: bool = False) -> Path:
        """A fresh, empty store folder inside ``folder`` (created when missing).

        Raises
        ------
        ValueError
            When ``folder`` is a file or cannot be created, naming it.
        """
        if folder:
            where = Path(folder).expanduser()
            if where.exists() and not where.is_dir():
                raise ValueError(f"results folder: expected a folder, found the file {where}")
            try:
                where.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ValueError(f"results folder: cannot create {where} ({err.strerror})") \
                    from err
        path = Path(tempfile.mkdtemp(prefix="napari-unet-", suffix=".zarr",
                                     dir=str(where) if folder else None))
        self.owned[path] = keep
        return path

    def sweep(self, layers: Iterable, *, busy: Iterable[Path | str | None] = ()) -> list[Path]:
        """Remove the folders (not kept) that no layer of ``layers`` shows; those removed.

        ``busy`` lists folders a running prediction still writes to.
        """
        shown = {Path(s) for s in (result_info(lyr).get("store") for lyr in layers) if s}
        shown |= {Path(s) for s in busy if s}
        return [p for p in list(self.owned) if p not in shown and self._remove(p)]

    def remove_all(self) -> list[Path]:
        """Remove every folder not kept (the viewer closes, or Python exits)."""
        return [p for p in list(self.owned) if self._remove(p)]

    def _remove(self, path: Path) -> bool:
        keep = self.owned.pop(path)
        if keep:
            return False
        shutil.rmtree(path, ignore_errors=True)
        return True


def physical_scale(layer, axes: str) -> tuple[dict[str, float], dict[str, str]]:
    """The physical size and unit of each axis of ``layer`` that has one (``axes``: the
    letters of the axes napari shows for it, a ``C`` among them skipped).

    An axis counts as known when its unit is not napari's default ``pixel`` or its scale is
    not 1; units are napari's names (e.g. ``"micrometer"``).
    """
    scale: dict[str, float] = {}
    units: dict[str, str] = {}
    n = len(axes)
    for a, s, u in zip(axes, tuple(layer.scale)[-n:], tuple(layer.units)[-n:]):
        unit = str(u)
        if a == "C" or (unit == "pixel" and float(s) == 1.0):
            continue
        scale[a] = float(s)
        if unit != "pixel":
            units[a] = unit
    return scale, units


def ngff_path(path: str | Path) -> Path:
    """``path`` with the ``.ome.zarr`` suffix OME-Zarr readers look for, added when it has no
    ``.zarr`` suffix."""
    target = Path(path).expanduser()
    return target if target.suffix.lower() == ".zarr" else target.with_name(
        target.name + ".ome.zarr")
