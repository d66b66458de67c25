"""The ``napari-unet`` command line: train, predict, evaluate, export and describe models.

Runs the same core as the napari widgets (same training, tiling and normalisation), so a
model trained in the viewer predicts the same from here. Progress bars go to stderr
(``--quiet`` silences them), results to files (``evaluate`` and ``info --json`` print JSON on
stdout). Exit status: 0 on success, 2 on bad input or a failing environment (a one-line
message naming the problem: a bad file, an unwritable or full disk), 1 on an internal error,
130 when interrupted. ``train`` stops after the current step and saves on the first Ctrl-C
(exit 0) or SIGTERM (exit 143, as from a SLURM time limit or ``timeout``); a second one
aborts training, never a save that has begun.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from napari_unet import __version__

__all__ = ["build_parser", "main"]

_EPILOG = """examples:
  napari-unet train image.tif --labels strokes.tif --out em.unet.safetensors --max-seconds 300
  napari-unet predict membranes.unet.safetensors images/ --out results/ --output classes
  napari-unet predict nuclei.unet.safetensors big.zarr --out res/ --format zarr --scheduler local:4
  napari-unet evaluate results/*_instances.tif --truth truth/ --task instances
  napari-unet export membranes.unet.safetensors --format bioimageio --out membranes.zip
  napari-unet info membranes.unet.safetensors
"""


def _add_shared(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or messages")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``napari-unet``."""
    parser = argparse.ArgumentParser(
        prog="napari-unet", description="Train and run U-Nets for image segmentation.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"napari-unet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    t = sub.add_parser("train", help="train a model on images and paintings/masks",
                       description="Train a U-Net. Labels pair with images in order; semantic "
                       "labels: 0 = not painted, 1..K = classes; instances: 0 = background, "
                       "1..N = objects.")
    t.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders (sorted)")
    t.add_argument("--labels", nargs="+", required=True, metavar="LABELS",
                   help="label files or folders, one per image, in the same order")
    t.add_argument("--out", required=True, metavar="MODEL", help="model file to write")
    t.add_argument("--task", choices=("semantic", "instances", "regression"))
    t.add_argument("--dims", choices=("2d", "3d"), help="2D (slice by slice) or 3D model")
    t.add_argument("--axes", help="axes of the images, e.g. YX, ZYX, CYX (default: the file's "
                                  "metadata, else guessed)")
    t.add_argument("--scene", metavar="NAME|INDEX",
                   help="scene (series) of multi-scene files to train on (default: the first)")
    t.add_argument("--max-seconds", type=float, metavar="S", help="time budget")
    t.add_argument("--steps", type=int, metavar="N", help="step budget")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    t.add_argument("--seed", type=int)
    t.add_argument("--from", dest="from_model", metavar="MODEL",
                   help="continue training this model (its config is the default)")
    t.add_argument("--config", metavar="FILE", help="a TrainConfig JSON file (flags override)")
    _add_shared(t)

    p = sub.add_parser("predict", help="predict images with a model",
                       description="Predict images; writes <input stem>_<output>.tif|.zarr "
                                   "or <input stem>.ome.zarr.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (sorted)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--output", metavar="LIST",
                   help="comma-separated: probabilities, classes, instances (objects; of "
                        "the structure classes 2..K for a semantic model), table (one CSV "
                        "row per object and time point: <stem>_objects.csv) (default: "
                        "instances for instance models, probabilities for regression, else "
                        "classes)")
    p.add_argument("--axes", help="axes of the inputs, e.g. YX, ZYX, CYX (default: the file's "
                                  "metadata, else the model's, else guessed)")
    p.add_argument("--scene", metavar="NAME|INDEX",
                   help="scene (series) of multi-scene inputs to predict (default: the first)")
    p.add_argument("--spacing", metavar="S[,S..]",
                   help="physical pixel size per spatial axis (Z, Y, X) of the inputs, e.g. "
                        "0.5,0.1,0.1; instances are sized and split in these units (default: "
                        "the file's physical pixel sizes, else 1 each)")
    p.add_argument("--tile-size", metavar="N[,N..]",
                   help="output pixels per tile per spatial axis (default: from memory)")
    p.add_argument("--batch-size", type=int, metavar="N", help="tiles per forward pass")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--format", choices=("tif", "zarr", "ome-zarr"), default="tif",
                   help="tif or zarr: one file per output; ome-zarr: one <stem>.ome.zarr "
                        "store per input (probabilities as an image, classes and instances "
                        "as label images, physical scale and units, a pyramid when big)")
    p.add_argument("--scheduler", metavar="local:N|ADDRESS",
                   help="spread the tiles over a Dask cluster: local:N worker processes, a "
                        "scheduler address (tcp://host:8786) or a scheduler file (.json)")
    _add_shared(p)

    e = sub.add_parser("evaluate", help="score predictions against ground truth (JSON)",
                       description="Score predictions against ground truth; JSON on stdout.")
    e.add_argument("predictions", nargs="+", metavar="PRED")
    e.add_argument("--truth", nargs="+", required=True, metavar="TRUTH")
    e.add_argument("--task", choices=("semantic", "instances"), default="semantic",
                   help="semantic: class images 1..K (truth 0 = ignored); instances: "
                        "label images 0 = background")
    _add_shared(e)

    x = sub.add_parser("export", help="export a model (bioimage.io, ONNX, TorchScript)")
    x.add_argument("model", metavar="MODEL")
    x.add_argument("--format", required=True, choices=("bioimageio", "onnx", "torchscript"))
    x.add_argument("--out", required=True, metavar="PATH",
                   help="file, or for bioimageio a folder or a .zip")
    x.add_argument("--sample", metavar="IMAGE",
                   help="bioimageio: an image whose crop becomes the test input")
    x.add_argument("--author", action="append", metavar="NAME", help="bioimageio author")
    x.add_argument("--license", default="CC-BY-4.0", help="bioimageio licence (SPDX id)")
    _add_shared(x)

    i = sub.add_parser("info", help="describe a model file")
    i.add_argument("model", metavar="MODEL")
    i.add_argument("--json", action="store_true", help="print the whole model card as JSON")
    i.add_argument("--train-config", action="store_true",
                   help="print the training configuration as JSON (a --config file for train)")
    _add_shared(i)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-unet`` console script; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help, --version, usage errors (status 2)
        return int(exit_.code or 0)
    debug = args.debug or bool(os.environ.get("NAPARI_UNET_DEBUG"))
    try:
        module = importlib.import_module(f"napari_unet.cli._{args.command}")
        status = module.run(args)
    except KeyboardInterrupt:
        print("napari-unet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `napari-unet evaluate ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (ValueError, TypeError, OSError) as err:
        if debug:
            traceback.print_exc()
        text = " ".join(str(err).split()) or type(err).__name__
        print(f"napari-unet {args.command}: error: {text}", file=sys.stderr)
        return 2
    except Exception as err:
        if debug:
            traceback.print_exc()
        text = " ".join(str(err).split())
        print(f"napari-unet {args.command}: internal error: {type(err).__name__}: {text} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
