"""``napari-unet info``."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> None:
    """Print a model file's card (a summary, or all of it as JSON)."""
    from napari_unet.core.modelfile import describe_card, read_card

    card = read_card(args.model)
    if args.train_config:
        print(json.dumps(card.get("train_config") or {}, indent=1))
    else:
        print(json.dumps(card, indent=1) if args.json else describe_card(card))
