"""``napari-unet info``."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> None:
    """Print a model's card (a summary, or all of it as JSON): of a model file, or of the
    model a bioimage.io package holds."""
    from napari_unet.core.export.loading import is_package, load_any_model
    from napari_unet.core.modelfile import describe_card, make_card, read_card

    if is_package(args.model):
        model = load_any_model(args.model)
        card = model.card if model.card is not None else make_card(model)
    else:
        card = read_card(args.model)
    if args.train_config:
        print(json.dumps(card.get("train_config") or {}, indent=1))
    else:
        print(json.dumps(card, indent=1) if args.json else describe_card(card))
