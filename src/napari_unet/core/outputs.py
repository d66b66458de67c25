"""Where results go: every output path of a run decided before any work starts.

The one rule for output paths, shared by the command line and the Python API:

* a prediction of ``<input>`` is written to ``<out>/<input stem>_<output>.<tif|zarr>``, or
  with the OME-Zarr format to one store ``<out>/<input stem>.ome.zarr`` holding every output,
  and its object table to ``<out>/<input stem>_objects.csv`` (:func:`plan_predictions`);
  two inputs that would share an output path, or an output path
  that is also an input, are refused before anything is read, with a message that names both;
* a model is written only where it cannot replace an input or a file that is not a model
  (:func:`check_model_out`), and if saving still fails after training, the model is saved to
  a stated fallback path (:func:`fallback_model_path`) rather than lost;
* folders are never removed unless they are the tool's own earlier output
  (:func:`check_replaceable_folder`), and results are written to a hidden temporary sibling
  and moved into place only when complete (:func:`staged`), so a failing run leaves earlier
  results untouched.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from napari_unet.core.io import output_path, stem

__all__ = [
    "PREDICTION_FORMATS",
    "check_model_out",
    "check_not_an_input",
    "check_replaceable_folder",
    "disk_full_message",
    "fallback_model_path",
    "plan_predictions",
    "prediction_path",
    "same_path",
    "staged",
]


#: Formats of prediction outputs: one file/store per output, or one OME-Zarr store per input.
PREDICTION_FORMATS = ("tif", "zarr", "ome-zarr")


def prediction_path(out_dir: str | os.PathLike, source: str | os.PathLike, kind: str,
                    fmt: str) -> Path:
    """Where output ``kind`` of ``source`` goes (see the module notes); ``kind="table"`` is
    the object table."""
    if kind == "table":
        return Path(out_dir) / f"{stem(source)}_objects.csv"
    if fmt == "ome-zarr":
        return Path(out_dir) / f"{stem(source)}.ome.zarr"
    return output_path(out_dir, source, kind, fmt)


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file or folder (links and ``..`` resolved)."""
    pa, pb = Path(a), Path(b)
    with contextlib.suppress(OSError):
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    return pa.resolve() == pb.resolve()


def plan_predictions(inputs: Sequence[str | os.PathLike], kinds: Sequence[str], out_dir: str |
                     os.PathLike, fmt: str) -> list[dict[str, Path]]:
    """The output path of every (input, output kind), checked before any work.

    Parameters
    ----------
    inputs : sequence of path
        The input images, in order.
    kinds : sequence of str
        The outputs asked for, e.g. ``("probabilities", "classes")``; ``"table"`` for the
        object table.
    out_dir : path
        The output folder.
    fmt : {"tif", "zarr", "ome-zarr"}
        The output format (``ome-zarr``: every output of an input in one store).

    Returns
    -------
    list of dict
        Per input, ``{kind: path}``.

    Raises
    ------
    ValueError
        If two inputs would write the same output (``a/img.tif`` and ``b/img.tif``, or
        ``img.tif`` and ``img.npy``), or an output would replace one of the inputs.
    """
    plans: list[dict[str, Path]] = []
    owner: dict[Path, Path] = {}
    for source in inputs:
        if fmt not in PREDICTION_FORMATS:
            raise ValueError(f"format: expected one of {PREDICTION_FORMATS}, found {fmt!r}")
        plan = {k: prediction_path(out_dir, source, k, fmt) for k in kinds}
        for target in dict.fromkeys(plan.values()):
            key = target.resolve()
            if key in owner:
                raise ValueError(
                    f"inputs {str(owner[key])!r} and {str(source)!r}: expected distinct output "
                    f"names, found both writing {str(target)!r}; rename one of them or predict "
                    f"them into different --out folders")
            owner[key] = Path(source)
            for other in inputs:
                if same_path(target, other):
                    raise ValueError(
                        f"output {str(target)!r} of input {str(source)!r} is also an input; "
                        f"expected outputs that replace no input: choose another --out folder")
        plans.append(plan)
    return plans


def check_not_an_input(path: str | os.PathLike, inputs: Sequence[str | os.PathLike], *,
                       what: str, expected: str) -> None:
    """Refuse an output ``path`` that is one of ``inputs`` (the one rule for single outputs).

    Raises
    ------
    ValueError
        ``"<what> '<path>' is also an input ('<input>'); expected <expected>"``.
    """
    for source in inputs:
        if same_path(path, source):
            raise ValueError(f"{what} {str(path)!r} is also an input ({str(source)!r}); "
                             f"expected {expected}")


def _is_model_file(path: Path) -> bool:
    from napari_unet.core.modelfile import read_card  # modelfile imports io, not outputs

    try:
        read_card(path)
    except (ValueError, OSError):
        return False
    return True


def check_model_out(out: str | os.PathLike, *, inputs: Sequence[str | os.PathLike] = (),
                    what: str = "--out") -> Path:
    """Check, before training, that a model can be saved at ``out``.

    Refused: an input (image or labels), a folder, an existing file that is not a napari-unet
    model file, and a place whose nearest existing parent is a file or not writable.

    Returns
    -------
    pathlib.Path
        ``out`` as a path.

    Raises
    ------
    ValueError
        Naming ``out``, what was expected and what was found.
    """
    path = Path(out)
    check_not_an_input(path, inputs, what=what,
                       expected="a new model file name such as model.unet.safetensors")
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r}: expected a model file name, found a folder; "
                         f"give a file name such as {str(path / 'model.unet.safetensors')!r}")
    if path.exists() and not _is_model_file(path):
        raise ValueError(f"{what} {str(path)!r}: expected a new file or a napari-unet model "
                         f"file to replace, found another file; choose another name")
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{what} {str(path)!r}: expected a folder above it, found the file "
                         f"{str(parent)!r}; choose another place")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {str(path)!r}: expected a writable folder, found "
                         f"{str(parent)!r} not writable; choose another place")
    return path


def fallback_model_path(out: str | os.PathLike, *, folder: str | os.PathLike | None = None
                        ) -> Path:
    """Where a model goes when it cannot be saved at ``out``: the working folder (else the
    temporary folder), ``<out name>.rescued-<UTC time>.unet.safetensors``."""
    name = Path(out).name.removesuffix(".unet.safetensors").removesuffix(".safetensors")
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = Path(folder) if folder is not None else Path.cwd()
    if not os.access(base, os.W_OK | os.X_OK):
        base = Path(tempfile.gettempdir())
    return base / f"{name or 'model'}.rescued-{stamp}.unet.safetensors"


def _is_zarr_store(path: Path) -> bool:
    return any((path / n).exists() for n in ("zarr.json", ".zarray", ".zgroup"))


def check_replaceable_folder(path: str | os.PathLike, *, what: str,
                             is_own: Callable[[Path], bool] = _is_zarr_store) -> None:
    """Refuse to replace ``path`` unless it is missing, an empty folder or the tool's own
    earlier output (``is_own``; default: a zarr store).

    Raises
    ------
    ValueError
        If ``path`` is a file, the working folder (or holds it), or a non-empty folder that
        ``is_own`` does not recognise.
    """
    p = Path(path)
    if not p.exists():
        return
    if not p.is_dir():
        raise ValueError(f"{what} {str(p)!r}: expected a folder, found a file; choose another "
                         f"name or remove the file yourself")
    here = Path.cwd().resolve()
    if p.resolve() == here or p.resolve() in here.parents:
        raise ValueError(f"{what} {str(p)!r} is the working folder or holds it; expected a "
                         f"new folder name")
    if any(p.iterdir()) and not is_own(p):
        raise ValueError(f"{what} {str(p)!r}: expected a new or empty folder (or an earlier "
                         f"output of napari-unet to replace), found a folder with other files; "
                         f"choose another name")


@contextlib.contextmanager
def staged(path: str | os.PathLike, *,
           is_own: Callable[[Path], bool] = _is_zarr_store) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; on success it replaces ``path``.

    The temporary path is inside a hidden folder next to ``path`` (same file system, so the
    final move is a rename). On an error (or Ctrl-C) it is removed and ``path`` is untouched.
    An existing folder at ``path`` is replaced only when :func:`check_replaceable_folder`
    allows it (checked before anything is written).
    """
    target = Path(path)
    if target.is_dir():
        check_replaceable_folder(target, what="output", is_own=is_own)
    target.parent.mkdir(parents=True, exist_ok=True)
    box = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        tmp = box / target.name
        yield tmp
        if not tmp.exists():
            return
        if target.is_dir() and not target.is_symlink():
            old = box / (target.name + ".old")
            os.replace(target, old)
            os.replace(tmp, target)
        else:
            os.replace(tmp, target)
    except OSError as err:
        full = disk_full_message(target, err)
        if full is None:
            raise
        raise OSError(errno.ENOSPC, full) from err
    finally:
        shutil.rmtree(box, ignore_errors=True)


def disk_full_message(target: Path, err: OSError) -> str | None:
    """A message naming ``target`` when ``err`` means the disk is full, else None.

    numpy reports a full disk as ``"524288 requested and 31672 written"`` (no errno); the
    system as ``ENOSPC`` or ``EDQUOT``.
    """
    if err.errno not in (errno.ENOSPC, errno.EDQUOT) and "requested and" not in str(err):
        return None
    try:
        free = f"{shutil.disk_usage(target.parent).free / 2**20:.1f} MiB free"
    except OSError:
        free = "free space unknown"
    return (f"output {str(target)!r}: expected room on the disk to write it, found the disk "
            f"full ({free} in {str(target.parent)!r}; {err}); nothing was replaced: free some "
            f"space or write elsewhere")
