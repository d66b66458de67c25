"""Object tables (core/objects/table.py): known answers on small synthetic label images, per
time point, in physical units, with mean intensity per channel and mean probability; CSV
written staged and never over an input."""

from __future__ import annotations

import csv

import dask.array as da
import numpy as np
import pytest

from napari_unet.core.objects.table import measure_objects, write_csv


def _two_squares() -> np.ndarray:
    labels = np.zeros((10, 12), np.int32)
    labels[1:3, 1:4] = 3  # 6 pixels, centroid (1.5, 2)
    labels[5:9, 6:10] = 7  # 16 pixels, centroid (6.5, 7.5)
    return labels


def test_2d_sizes_centroids_intensity_and_probability():
    labels = _two_squares()
    image = np.zeros((10, 12))
    image[labels == 3] = 10.0
    image[labels == 7] = np.arange(16)  # mean 7.5
    probabilities = np.zeros((2, 10, 12), np.float32)
    probabilities[0] = 0.2  # 1 - P(background) = 0.8 everywhere
    probabilities[0][labels == 7] = 0.6
    table = measure_objects(labels, axes="YX", image=image, probabilities=probabilities,
                            spacing={"Y": 0.5, "X": 0.25})
    assert list(table) == ["label", "pixels", "area", "centroid_y", "centroid_x",
                           "mean_intensity", "mean_probability"]
    np.testing.assert_array_equal(table["label"], [3, 7])
    np.testing.assert_array_equal(table["pixels"], [6, 16])
    np.testing.assert_allclose(table["area"], [6 * 0.125, 16 * 0.125])
    np.testing.assert_allclose(table["centroid_y"], [1.5, 6.5])
    np.testing.assert_allclose(table["centroid_x"], [2.0, 7.5])
    np.testing.assert_allclose(table["mean_intensity"], [10.0, 7.5])
    np.testing.assert_allclose(table["mean_probability"], [0.8, 0.4], rtol=1e-6)


def test_time_points_are_rows_of_their_own_and_z_makes_volumes():
    """T: one row per object per time point ("frame"); Z, Y, X form one volume."""
    labels = np.zeros((2, 3, 4, 5), np.int32)  # T, Z, Y, X
    labels[0, 0:2, 0:2, 0:2] = 1  # 8 voxels
    labels[1, :, 1:3, 1:2] = 1  # 6 voxels: the same id at the next time point
    labels[1, 2, 3, 4] = 4
    table = measure_objects(da.from_array(labels, chunks=1), axes="TZYX",
                            spacing={"Z": 2.0, "Y": 0.5, "X": 0.5})
    np.testing.assert_array_equal(table["frame"], [0, 1, 1])
    np.testing.assert_array_equal(table["label"], [1, 1, 4])
    np.testing.assert_array_equal(table["pixels"], [8, 6, 1])
    np.testing.assert_allclose(table["volume"], [4.0, 3.0, 0.5])
    np.testing.assert_allclose(table["centroid_z"], [0.5, 1.0, 2.0])
    assert "area" not in table and "centroid_t" not in table


def test_channels_in_any_order_give_one_mean_per_channel():
    labels = _two_squares()
    image = np.stack([np.ones((10, 12)), np.where(labels == 7, 4.0, 0.0)], axis=-1)  # Y X C
    table = measure_objects(labels, axes="YX", image=image, image_axes="YXC")
    np.testing.assert_allclose(table["mean_intensity_0"], [1.0, 1.0])
    np.testing.assert_allclose(table["mean_intensity_1"], [0.0, 4.0])
    same = measure_objects(labels, axes="YX", image=np.moveaxis(image, -1, 0))  # (C, Y, X)
    np.testing.assert_allclose(same["mean_intensity_1"], table["mean_intensity_1"])


def test_no_objects_give_an_empty_table():
    table = measure_objects(np.zeros((4, 4), np.uint16), axes="YX")
    assert all(v.size == 0 for v in table.values()) and "label" in table


def test_bad_input_names_what_was_expected():
    labels = _two_squares()
    with pytest.raises(TypeError, match="integer"):
        measure_objects(labels.astype(float), axes="YX")
    with pytest.raises(ValueError, match="one per axis of the labels"):
        measure_objects(labels, axes="ZYX")
    with pytest.raises(ValueError, match="image: expected the labels' shape"):
        measure_objects(labels, axes="YX", image=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="probabilities: expected shape"):
        measure_objects(labels, axes="YX", probabilities=np.zeros((2, 3, 3)))


def test_csv_is_written_staged_and_never_over_an_input(tmp_path):
    labels = _two_squares()
    table = measure_objects(labels, axes="YX", spacing={"Y": 2.0, "X": 2.0})
    path = write_csv(tmp_path / "cells_objects.csv", table)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["label"] for r in rows] == ["3", "7"]
    assert [float(r["area"]) for r in rows] == [24.0, 64.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells_objects.csv"]
    source = tmp_path / "image.csv"
    source.write_text("mine")
    with pytest.raises(ValueError, match="also an input"):
        write_csv(source, table, inputs=(source,))
    assert source.read_text() == "mine"
    with pytest.raises(ValueError, match="one length"):
        write_csv(tmp_path / "bad.csv", {"a": np.arange(2), "b": np.arange(3)})
    assert not (tmp_path / "bad.csv").exists()
