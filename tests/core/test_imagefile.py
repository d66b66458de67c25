"""open_image: real files written here (OME-TIFF, ImageJ, multi-series tif, OME-Zarr, CZI)
give their axes, physical sizes, units, channel names and scenes; forged headers are refused."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_unet.core import imagefile
from napari_unet.core.imagefile import channel_layers, file_spacing, open_image
from napari_unet.core.io import expand_inputs, read_image, stem, to_numpy
from tests._files import write_czi


def _ome_tif(path: Path, data: np.ndarray | None = None) -> Path:
    data = np.arange(3 * 2 * 16 * 20, dtype=np.uint16).reshape(3, 2, 16, 20) \
        if data is None else data
    tifffile.imwrite(path, data, metadata={
        "axes": "ZCYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": 0.5,
        "PhysicalSizeXUnit": "µm", "PhysicalSizeYUnit": "µm", "PhysicalSizeZUnit": "µm",
        "Channel": {"Name": ["DAPI", "GFP"]}, "Name": "cells"})
    return path


def test_ome_tiff_gives_axes_sizes_units_and_channel_names(tmp_path):
    path = _ome_tif(tmp_path / "cells.ome.tif")
    image = open_image(path)
    assert image.axes == "ZCYX"
    assert image.data.shape == (3, 2, 16, 20) and isinstance(image.data, np.ndarray)
    assert image.scale == {"Z": 0.5, "Y": 0.1, "X": 0.1}
    assert image.units == {"Z": "micrometer", "Y": "micrometer", "X": "micrometer"}
    assert image.channel_names == ("DAPI", "GFP")
    assert image.scenes == ("cells",) and image.scene is None
    assert file_spacing(image, "ZCYX") == (0.5, 0.1, 0.1)
    assert file_spacing(image, "TCYX") is None  # not the file's axes: nothing taken
    assert stem(path) == "cells"


def test_channel_layers_follow_contract_c2(tmp_path):
    image = open_image(_ome_tif(tmp_path / "cells.ome.tif"))
    layers = channel_layers(image)
    assert [o["name"] for _, o in layers] == ["DAPI", "GFP"]
    data, options = layers[1]
    np.testing.assert_array_equal(np.asarray(data), image.data[:, 1])
    assert options["metadata"] == {"source": str(image.path), "axes": "ZYX",
                                   "image_group": "cells", "channel": 1,
                                   "channel_names": ("DAPI", "GFP")}
    assert options["scale"] == (0.5, 0.1, 0.1)
    assert options["units"] == ("micrometer",) * 3
    # axes typed by the user win; without C no split
    (whole, opts), = channel_layers(image, axes="TZYX")
    assert whole.shape == image.data.shape and opts["metadata"]["axes"] == "TZYX"
    assert opts["scale"] == (1.0, 0.5, 0.1, 0.1)
    with pytest.raises(ValueError, match="axes for image"):
        channel_layers(image, axes="ZYX")


def test_imagej_hyperstack_spacing_and_unit(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, np.zeros((4, 2, 8, 8), np.uint8), imagej=True,
                     resolution=(1 / 0.2, 1 / 0.2),
                     metadata={"axes": "ZCYX", "spacing": 0.7, "unit": "um"})
    image = open_image(path)
    assert image.axes == "ZCYX"
    assert image.scale == pytest.approx({"Z": 0.7, "Y": 0.2, "X": 0.2})
    assert set(image.units.values()) == {"micrometer"}


def test_multi_series_tif_scenes_by_index_and_name(tmp_path):
    path = tmp_path / "two.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.full((8, 8), 1, np.uint8))
        tif.write(np.full((2, 4, 4), 2, np.uint8), metadata={"axes": "ZYX"})
    first = open_image(path)
    assert first.scenes == ("series 0", "series 1") and first.scene == "series 0"
    assert first.data.shape == (8, 8) and first.axes == "YX"
    for scene in (1, "1", "series 1", -1):
        second = open_image(path, scene=scene)
        assert second.scene == "series 1" and second.axes == "ZYX"
        assert second.data.shape == (2, 4, 4) and int(second.data.max()) == 2
    with pytest.raises(ValueError, match=r"scene 'nope' not found.*0: 'series 0', 1: 'series 1'"):
        open_image(path, scene="nope")
    with pytest.raises(ValueError, match="scene 5 not found"):
        open_image(path, scene=5)


def test_big_tif_is_lazy_and_reads_the_same(tmp_path, monkeypatch):
    path = _ome_tif(tmp_path / "big.ome.tif")
    monkeypatch.setattr(imagefile, "LAZY_BYTES", 100)  # "big" for this test
    image = open_image(path)
    assert hasattr(image.data, "dask") and image.axes == "ZCYX"
    np.testing.assert_array_equal(image.data[1].compute(), tifffile.imread(path)[1])


def _ome_zarr(path: Path, data: np.ndarray, axes: str) -> Path:
    from ome_zarr.writer import write_image

    root = zarr.open_group(str(path), mode="w")
    sizes = {a: v for a, v in {"z": 2.0, "y": 0.5, "x": 0.5}.items() if a in axes.lower()}
    write_image(data, root, axes=axes.lower(), scale=sizes,
                axes_units={a: "micrometer" for a in sizes}, scale_factors=[2])
    root.attrs["omero"] = {"channels": [{"label": f"ch{i}"} for i in range(data.shape[0])]}
    return path


def test_ome_zarr_by_ome_zarr_py_is_lazy_with_scale_units_and_labels(tmp_path):
    data = np.random.default_rng(0).integers(0, 200, (2, 5, 32, 32), dtype=np.uint8)
    image = open_image(_ome_zarr(tmp_path / "cells.ome.zarr", data, "CZYX"))
    assert image.axes == "CZYX" and hasattr(image.data, "dask")
    assert image.scale == {"Z": 2.0, "Y": 0.5, "X": 0.5}
    assert image.units == {"Z": "micrometer", "Y": "micrometer", "X": "micrometer"}
    assert image.channel_names == ("ch0", "ch1")
    np.testing.assert_array_equal(image.data.compute(), data)


def test_singleton_channel_is_dropped(tmp_path):
    data = np.ones((1, 16, 16), np.uint8)
    image = open_image(_ome_zarr(tmp_path / "one.ome.zarr", data, "CYX"))
    assert image.axes == "YX" and image.data.shape == (16, 16)
    assert image.scale == {"Y": 0.5, "X": 0.5}


def _forged_tif(path: Path, width: int = 200000, height: int = 200000) -> Path:
    """A tiny classic TIFF whose header declares width x height 8-bit pixels."""
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
            (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height),
            (279, 4, 1, 4)]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHII" if t == 4 else "<HHIHH", code, t, n, *(
            (v,) if t == 4 else (v, 0))) for code, t, n, v in tags) + struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 12) + b"\x00\x00\x00\x00" + ifd)
    return path


def test_tif_declaring_more_than_it_holds_is_refused_before_reading(tmp_path):
    path = _forged_tif(tmp_path / "forged.tif")
    assert path.stat().st_size < 200
    with pytest.raises(ValueError, match=r"forged\.tif.*200000x200000.*only \d+ bytes"):
        open_image(path)
    with pytest.raises(ValueError, match="declares 200000x200000"):
        read_image(path)


def test_empty_zarr_refused_whole_but_sparse_reads_stay_lazy(tmp_path):
    path = tmp_path / "empty.zarr"
    zarr.open_array(str(path), mode="w", shape=(200000, 200000), chunks=(1024, 1024),
                    dtype="uint8")
    with pytest.raises(ValueError, match=r"declares 200000x200000 .* stores only"):
        to_numpy(read_image(path))
    image = open_image(path)  # lazy: allowed
    assert image.data.shape == (200000, 200000) and image.axes is None
    z = zarr.open_array(str(path), mode="r+")
    z[:4, :4] = 7
    assert int(image.data[:8, :8].compute().sum()) == 7 * 16


@pytest.mark.slow  # bioio and its CZI plugin take seconds to import
def test_czi_through_bioio(tmp_path):
    path = write_czi(tmp_path / "cells.czi")
    image = open_image(path)
    assert image.axes == "CZYX" and image.data.shape == (2, 3, 16, 20)
    assert image.scale == pytest.approx({"Z": 1.0, "Y": 0.2, "X": 0.2})
    assert image.units == {"Z": "micrometer", "Y": "micrometer", "X": "micrometer"}
    assert image.channel_names == ("DAPI", "GFP")
    assert int(image.data[1, 2, 0, 0]) == 12
    assert np.asarray(read_image(path)).shape == (2, 3, 16, 20)
    with pytest.raises(ValueError, match="scene 'x' not found"):
        open_image(path, scene="x")


@pytest.mark.slow
def test_missing_bioio_plugin_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "cells.nd2"
    path.write_bytes(b"not really")
    monkeypatch.setitem(sys.modules, "bioio_nd2", None)  # as if the plugin were not installed
    hint = r'cells\.nd2.*bioio-nd2.*pip install "napari-unet\[formats\]"'
    with pytest.raises(ValueError, match=hint):
        open_image(path)


def test_folder_of_czi_files_expands(tmp_path):
    for name in ("b.czi", "a.czi", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in expand_inputs([tmp_path])] == ["a.czi", "b.czi"]
    assert stem(tmp_path / "a.ome.zarr") == "a"
