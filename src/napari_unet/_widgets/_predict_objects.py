"""The Predict widget's object table actions: the objects of the last prediction measured
in a worker, the view centred on a row's object, the table saved as CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_unet._widgets._jobs import explain, start_job
from napari_unet.core.progress import Progress


class ObjectTableActions:
    """Object measuring, going to and saving (mixed into the Predict widget); uses its
    ``objects``, ``status``, ``_last``, ``_table_worker``, ``_result_layer``, ``_centre_on``,
    ``_source_of_last`` and ``_run_save``."""

    def _object_coordinates(self) -> tuple[dict[str, int], dict[str, int]]:
        """How a table row maps to the instances layer's data coordinates: the fixed index of
        each axis the prediction did not cover (a slice, a lazy region's one-deep axes) and
        the offset of each spatial axis (a region of a numpy image)."""
        last = self._last
        axes, index = last["axes"].replace("C", ""), last["index"]
        fixed: dict[str, int] = {}
        offset: dict[str, int] = {}
        for a, i in zip(axes, index):
            if isinstance(i, int):
                fixed[a] = 0 if last["lazy"] else i
            elif not last["lazy"]:
                offset[a] = i.start
        return fixed, offset

    def _measure_objects(self) -> None:
        """Measure the objects of the last prediction in a worker, then show the table."""
        from napari_unet.core.objects.table import measure_objects

        last = self._last
        results, sub_axes = last["results"], last["sub_axes"]
        labels_axes = sub_axes.replace("C", "")
        scale, _ = last["scale"]
        spacing = {a: s for a, s in scale.items() if a in "ZYX"}
        probabilities = results.get("probabilities")
        if last["model"].meta.get("task") == "regression":
            probabilities = None

        def job():
            yield Progress(0, 1, "measuring the objects")
            return measure_objects(results["instances"], axes=labels_axes,
                                   image=last["region"], image_axes=sub_axes,
                                   probabilities=probabilities, spacing=spacing)

        def done(table) -> None:
            note = "; sizes in pixels (the image has no pixel size)" if not spacing else ""
            self.objects.show_table(table, note=note)

        self._table_worker = start_job(
            job(), on_return=done,
            on_error=lambda err: self.status.setText(
                f"objects shown, but not measured: {explain(err)}"),
            on_finish=self._table_finished)

    def _table_finished(self) -> None:
        self._table_worker = None

    def go_to_object(self, row: int) -> tuple[float, ...] | None:
        """Centre the view on the object of the table's ``row`` (and move to its slice and
        time point). Returns its position in the instances layer's data coordinates."""
        table = self.objects.table
        layer = self._result_layer("instances")
        if layer is None or not table or not 0 <= row < len(table.get("label", ())):
            return None
        axes = self._last["axes"].replace("C", "")
        fixed, offset = self._object_coordinates()
        frames = [a for a in axes if a in "TS" and a not in fixed]
        frame = int(table["frame"][row]) if "frame" in table else 0
        frame_index = dict(zip(frames, np.unravel_index(
            frame, [layer.data.shape[axes.index(a)] for a in frames]))) if frames else {}
        position = []
        for a in axes:
            if a in fixed:
                position.append(float(fixed[a]))
            elif a in frame_index:
                position.append(float(frame_index[a]))
            else:
                position.append(float(table[f"centroid_{a.lower()}"][row]) + offset.get(a, 0))
        self._centre_on(layer, position)
        label = table["label"][row]
        self.status.setText(f"object {label}")
        return tuple(position)

    def save_table(self, path: str, *, replace: bool = False):
        """Write the object table as CSV to ``path`` in a worker (an existing file is
        replaced only with ``replace``, as after the file dialog asked)."""
        from napari_unet.core.objects.table import write_csv

        try:
            if not self.objects.table:
                raise ValueError("there is no object table: predict with 'instances' ticked")
            target = Path(path).expanduser()
            if target.exists() and not replace:
                raise ValueError(f"{str(target)!r} exists already: choose a new file name")
            source = (self._source_of_last(),) if self._source_of_last() else ()
            table = dict(self.objects.table)
        except ValueError as err:
            self.status.setText(f"not saved: {explain(err)}")
            return None

        def job():
            yield Progress(0, 1, "saving the object table")
            return write_csv(target, table, inputs=source)

        return self._run_save(job(), "object table")
