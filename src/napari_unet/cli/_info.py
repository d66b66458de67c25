"""``napari-unet info``."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> None:
    """Print a model file's card (a summary, or all of it as JSON)."""
    from napari_unet.core.modelfile import describe_card, read_card

    card = read_card(args.model)
    print(json.dumps(card, indent=1) if args.json else describe_card(card))
