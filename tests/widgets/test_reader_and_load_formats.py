"""Real files into napari with their metadata: a CZI through napari's own File > Open path
(our reader contribution), an OME-TIFF, a multi-series tif and typed axes through the Load
widget; layers carry scale, units and the C2 metadata, and stay lazy."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from tests._files import write_czi

from .conftest import dock

NAMES = {"Channel": {"Name": ["DAPI", "GFP"]}}


def _ome_tif(path):
    data = np.arange(3 * 2 * 16 * 20, dtype=np.uint16).reshape(3, 2, 16, 20)
    tifffile.imwrite(path, data, metadata={
        "axes": "ZCYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": 0.5,
        **NAMES})
    return data


@pytest.mark.slow  # bioio and its CZI plugin take seconds to import
def test_napari_opens_a_czi_with_our_reader(make_napari_viewer, tmp_path):
    path = write_czi(tmp_path / "cells.czi")
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin="napari-unet")
    assert [lyr.name for lyr in layers] == ["DAPI", "GFP"]
    gfp = layers[1]
    assert gfp.data.shape == (3, 16, 20) and hasattr(gfp.data, "dask"), "stays lazy"
    np.testing.assert_allclose(gfp.scale, (1.0, 0.2, 0.2))
    assert [str(u) for u in gfp.units] == ["micrometer"] * 3
    assert gfp.metadata == {"source": str(path), "axes": "ZYX", "image_group": "cells",
                            "channel": 1, "channel_names": ("DAPI", "GFP")}
    assert int(np.asarray(gfp.data[2, 0, 0])) == 12
    # napari picks our reader by itself: no other installed reader claims *.czi
    again = viewer.open(str(path), plugin=None)
    assert [lyr.name for lyr in again] == ["DAPI [1]", "GFP [1]"]


@pytest.mark.slow
def test_load_splits_ome_tiff_channels_lazily_with_scale_and_metadata(make_napari_viewer,
                                                                      tmp_path):
    path = tmp_path / "cells.ome.tif"
    data = _ome_tif(path)
    viewer = make_napari_viewer()
    load = dock(viewer, "Load")
    load.path_edit.setText(str(path))
    layers = load.open()
    assert [lyr.name for lyr in layers] == ["DAPI", "GFP"]
    for i, layer in enumerate(layers):
        assert not isinstance(layer.data, np.ndarray), "tif opened lazily"
        np.testing.assert_array_equal(np.asarray(layer.data), data[:, i])
        np.testing.assert_allclose(layer.scale, (0.5, 0.1, 0.1))
        assert [str(u) for u in layer.units] == ["micrometer"] * 3
        assert layer.metadata == {"source": str(path), "axes": "ZYX", "image_group": "cells",
                                  "channel": i, "channel_names": ("DAPI", "GFP")}


@pytest.mark.slow
def test_load_typed_axes_and_voxel_size_win_and_stay_in_metadata(make_napari_viewer, tmp_path):
    path = tmp_path / "cells.ome.tif"
    _ome_tif(path)
    viewer = make_napari_viewer()
    load = dock(viewer, "Load")
    load.path_edit.setText(str(path))
    load.axes_edit.setText("TCYX")  # the user says the first axis is time, not depth
    load.voxel_edit.setText("0.3, 0.3")
    layers = load.open()
    assert [lyr.metadata["axes"] for lyr in layers] == ["TYX", "TYX"]
    np.testing.assert_allclose(layers[0].scale, (1.0, 0.3, 0.3))


@pytest.mark.slow
def test_load_scene_picker_for_a_multi_series_tif(make_napari_viewer, tmp_path):
    path = tmp_path / "two.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.full((8, 8), 1, np.uint8))
        tif.write(np.full((2, 4, 4), 2, np.uint8), metadata={"axes": "ZYX"})
    single = tmp_path / "one.tif"
    tifffile.imwrite(single, np.zeros((8, 8), np.uint8))
    viewer = make_napari_viewer()
    load = dock(viewer, "Load")
    load.path_edit.setText(str(path))
    load.path_edit.editingFinished.emit()
    assert [load.scene_combo.itemText(i) for i in range(load.scene_combo.count())] == [
        "series 0", "series 1"]
    assert not load.scene_combo.isHidden()
    load.scene_combo.setCurrentIndex(1)
    (layer,) = load.open()
    assert layer.name == "two [series 1]" and layer.data.shape == (2, 4, 4)
    assert layer.metadata == {"source": str(path), "axes": "ZYX"}
    assert int(np.asarray(layer.data).max()) == 2
    load.path_edit.setText(str(single))
    load.path_edit.editingFinished.emit()
    assert load.scene_combo.count() == 0 and load.scene_combo.isHidden()
