"""NGFF metadata helpers for the OME-Zarr result stores: the NGFF version written, the result
kinds and which of them are label images, the chunk key encoding, units as NGFF (UDUNITS-2)
names and the class colours.

Part of the OME-Zarr writer :mod:`napari_unet.core.ngff` (which re-exports the public names
it had).
"""

from __future__ import annotations

__all__ = [
    "CHUNK_KEYS",
    "LABEL_KINDS",
    "NGFF_VERSION",
    "RESULT_KINDS",
    "class_colors",
    "ngff_unit",
]

NGFF_VERSION = "0.4"
#: Results stored as label images.
LABEL_KINDS = ("classes", "instances")
#: Results a store can hold.
RESULT_KINDS = ("probabilities", "classes", "instances", "uncertainty")
#: Chunk files as NGFF 0.4 names them: ``0/3/2`` (nested folders).
CHUNK_KEYS = {"name": "v2", "separator": "/"}
#: Units written as NGFF (UDUNITS-2) names.
_UNITS = {
    "um": "micrometer", "µm": "micrometer", "μm": "micrometer", "micron": "micrometer",
    "microns": "micrometer", "nm": "nanometer", "mm": "millimeter", "cm": "centimeter",
    "m": "meter", "pm": "picometer", "a": "angstrom", "å": "angstrom", "s": "second",
    "sec": "second", "ms": "millisecond", "us": "microsecond", "µs": "microsecond",
    "min": "minute", "h": "hour", "hr": "hour", "ns": "nanosecond",
}
_KNOWN_UNITS = {
    "angstrom", "attometer", "centimeter", "decimeter", "exameter", "femtometer", "foot",
    "gigameter", "hectometer", "inch", "kilometer", "megameter", "meter", "micrometer", "mile",
    "millimeter", "nanometer", "parsec", "petameter", "picometer", "terameter", "yard",
    "yoctometer", "yottameter", "zeptometer", "zettameter", "attosecond", "centisecond", "day",
    "decisecond", "exasecond", "femtosecond", "gigasecond", "hectosecond", "hour",
    "kilosecond", "megasecond", "microsecond", "millisecond", "minute", "nanosecond",
    "petasecond", "picosecond", "second", "terasecond", "yoctosecond", "yottasecond",
    "zeptosecond", "zettasecond",
}
_PALETTE = [(0.6, 0.6, 0.6), (0.9, 0.2, 0.2), (0.2, 0.7, 0.2), (0.2, 0.4, 0.95),
            (0.95, 0.8, 0.1), (0.8, 0.3, 0.9), (0.1, 0.8, 0.85), (0.95, 0.55, 0.1)]


def ngff_unit(unit: str | None) -> str | None:
    """The NGFF (UDUNITS-2) name of ``unit`` (``"µm"`` -> ``"micrometer"``), or ``None`` when
    it is empty, ``"pixel"`` or not a unit NGFF knows."""
    if not unit:
        return None
    text = str(unit).strip()
    name = _UNITS.get(text.lower(), _UNITS.get(text, text.lower()))
    return name if name in _KNOWN_UNITS else None


def class_colors(n_classes: int) -> list[tuple[float, float, float]]:
    """One RGB colour (0..1) per class 1..K: grey for background, then distinct colours."""
    return [_PALETTE[i % len(_PALETTE)] for i in range(int(n_classes))]
