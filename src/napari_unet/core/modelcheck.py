"""Checks of a model file before anything is built: the card's checksum and the architecture
against the shapes of the tensors actually in the file.

A model file's card is data read from disk, so nothing it declares is trusted before it is
checked: an architecture whose sizes do not match the weights' shapes is refused before the
network is built (a header declaring 1000 base channels or depth 50 must not allocate GBs),
and a card edited after saving (say its normalisation, which changes every prediction) no
longer matches the sha256 stored with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

#: Key of the card's own checksum inside the card (the hash covers every other key).
CARD_SHA256 = "card_sha256"

__all__ = ["CARD_SHA256", "card_sha256", "check_architecture", "check_card_sha256"]


def card_sha256(card: Mapping[str, Any]) -> str:
    """A sha256 over the card's JSON (keys sorted), without its own checksum key."""
    body = {k: v for k, v in card.items() if k != CARD_SHA256}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_card_sha256(card: Mapping[str, Any], *, source: str) -> None:
    """Refuse a card whose recorded checksum does not match its content.

    Cards saved before the checksum existed carry none; they are accepted (their
    architecture, normalisation and classes are still checked against the weights).

    Raises
    ------
    ValueError
        If the card records a checksum that its content does not match.
    """
    recorded = card.get(CARD_SHA256)
    if recorded is None:
        return
    try:
        found = card_sha256(card)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source}: the model card is damaged: {err}") from err
    if recorded != found:
        raise ValueError(
            f"{source}: expected a model card matching its sha256 {recorded}, found "
            f"{found}; the card (architecture, normalisation, classes, ...) was edited or "
            f"damaged after saving. Use the original file, or re-save the model with napari-unet")


def _int(arch: Mapping[str, Any], key: str, source: str, *, low: int) -> int:
    value = arch.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{source}: architecture {key!r}: expected an integer >= {low}, "
                         f"found {value!r}")
    return value


def check_architecture(arch: Mapping[str, Any], shapes: Mapping[str, Sequence[int]], *,
                       source: str) -> None:
    """Check the sizes an architecture declares against the weights' tensor shapes.

    Cheap: only integers are compared, nothing is allocated. With ``depth``,
    ``base_channels``, ``in_channels`` and ``out_channels`` matching the tensors, the network
    built afterwards is no bigger than what the file holds.

    Parameters
    ----------
    arch : mapping
        The card's ``architecture`` (``UNet.config``).
    shapes : mapping
        Tensor name -> shape, as stored in the file.
    source : str
        Names the file in messages.

    Raises
    ------
    ValueError
        Naming the first size that does not match.
    """
    if not isinstance(arch, Mapping):
        raise ValueError(f"{source}: architecture: expected a JSON object, found "
                         f"{type(arch).__name__}")
    dims = arch.get("dims")
    if dims not in (2, 3) or isinstance(dims, bool):
        raise ValueError(f"{source}: architecture 'dims': expected 2 or 3, found {dims!r}")
    depth = _int(arch, "depth", source, low=1)
    base = _int(arch, "base_channels", source, low=1)
    c_in = _int(arch, "in_channels", source, low=1)
    c_out = _int(arch, "out_channels", source, low=1)
    levels = {int(k.split(".")[1]) for k in shapes
              if k.startswith("encoders.") and k.split(".")[1].isdigit()}
    if levels != set(range(depth)):
        raise ValueError(f"{source}: architecture 'depth' {depth} does not fit the weights: "
                         f"expected encoder levels 0..{depth - 1}, found {len(levels)} level(s)")

    def expect(name: str, want: tuple[int, ...], what: str) -> None:
        found = tuple(int(s) for s in shapes.get(name, ()))
        if found != want:
            raise ValueError(f"{source}: architecture {what} does not fit the weights: "
                             f"expected tensor {name!r} of shape {want}, found {found or None}")

    kernel = (3,) * dims
    expect("encoders.0.0.weight", (base, c_in, *kernel), "'base_channels'/'in_channels'/'dims'")
    top = base * 2 ** (depth - 1)
    expect(f"encoders.{depth - 1}.0.weight", (top, top // 2 if depth > 1 else c_in, *kernel),
           "'depth'/'base_channels'")
    expect("head.weight", (c_out, base, *(1,) * dims), "'out_channels'")
