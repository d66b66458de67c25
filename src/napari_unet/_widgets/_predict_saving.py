"""The Predict widget's saving of results: the last prediction's results written as one
OME-Zarr store in a worker (and the worker that saves the object table too)."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import QFileDialog

from napari_unet._widgets._jobs import explain, start_job
from napari_unet._widgets._results import ngff_path
from napari_unet.core.progress import Progress


class ResultSaving:
    """Saving the last results (mixed into the Predict widget); uses its ``viewer``,
    ``status``, ``save_button``, ``_last``, ``_save_worker``, ``_result_layer`` and
    ``_update_actions``."""

    def _source_of_last(self) -> str | None:
        like = next((lyr for lyr in self.viewer.layers
                     if lyr.name == self._last.get("like")), None)
        return (like.metadata.get("source") or None) if like is not None else None

    def _saveable(self) -> dict:
        """The last prediction's results whose layers are still in the viewer, by kind."""
        results = self._last.get("results") or {}
        return {k: v for k, v in results.items() if self._result_layer(k) is not None}

    def _browse_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save results as OME-Zarr", f"{self._last.get('name', 'results')}.ome.zarr",
            "OME-Zarr (*.ome.zarr *.zarr)")
        if path:  # the dialog asked before replacing
            self.save_results(path, replace=True)

    def save_results(self, path: str, *, replace: bool = False):
        """Write the last prediction's results as one OME-Zarr store at ``path``, in a worker.

        Writes the results whose layers are still shown (probabilities of every class, classes,
        instances, uncertainty) with the image's pixel size and units
        (:func:`napari_unet.core.ngff.write_results`); ``.ome.zarr`` is added to a path
        without a ``.zarr`` suffix. An existing path is refused unless ``replace`` (the file
        dialog asked), and even then only an earlier zarr store is replaced, never a file or
        another folder. Returns the worker, or None when refused (the status says why).
        """
        from napari_unet.core.ngff import write_results

        try:
            arrays = self._saveable()
            if not arrays:
                raise ValueError("there are no results to save: predict first (and keep their "
                                 "layers)")
            if self._last["index"]:
                raise ValueError("the last prediction covers a slice or the view only: predict "
                                 "the whole stack to save its results")
            target = ngff_path(path)
            if target.exists() and not replace:
                raise ValueError(f"{str(target)!r} exists already: choose a new name")
            source = self._source_of_last()
            if source and Path(source).resolve() == target.resolve():
                raise ValueError(f"{str(target)!r} is the image's own file: choose a new name")
            model = self._last["model"]
            names = None if model.meta.get("task") == "regression" else \
                (model.meta.get("class_names") or None)
            scale, units = self._last["scale"]
            axes = self._last["axes"].replace("C", "")
        except ValueError as err:
            self.status.setText(f"not saved: {explain(err)}")
            return None

        def job():
            yield Progress(0, 1, f"saving the results to {target.name}")
            return write_results(target, arrays, axes=axes, scale=scale, units=units,
                                 class_names=names)

        return self._run_save(job(), "results")

    def _run_save(self, job, what: str):
        def saved(path) -> None:
            self.status.setText(f"saved the {what} to {path}")

        def failed(err) -> None:
            self.status.setText(f"not saved: {explain(err)}")

        def finished() -> None:
            self._save_worker = None
            self._update_actions()

        self.status.setText(f"saving the {what}…")
        self._save_worker = start_job(job, on_return=saved, on_error=failed,
                                      on_finish=finished)
        self.save_button.setEnabled(False)
        return self._save_worker
