"""Reading inputs (tif, png, jpg, npy, zarr, folders) and writing results."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet.core.io import (
    expand_inputs,
    guess_axes,
    output_path,
    read_image,
    stem,
    write_result,
)


def _image(shape=(20, 30), seed=0):
    return np.random.default_rng(seed).integers(0, 255, size=shape, dtype=np.uint8)


def test_read_each_format(tmp_path):
    from skimage.io import imsave

    img = _image()
    tifffile.imwrite(tmp_path / "a.tif", img)
    imsave(tmp_path / "b.png", img, check_contrast=False)
    np.save(tmp_path / "c.npy", img.astype(np.float32))
    write_result(tmp_path / "d.zarr", img)
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif"), img)
    lazy_tif = read_image(tmp_path / "a.tif", lazy=True)
    assert not isinstance(lazy_tif, np.ndarray)
    np.testing.assert_array_equal(lazy_tif[5:9, 3:], img[5:9, 3:])
    np.testing.assert_array_equal(read_image(tmp_path / "b.png"), img)
    np.testing.assert_array_equal(read_image(tmp_path / "c.npy"), img)
    z = read_image(tmp_path / "d.zarr")
    assert not isinstance(z, np.ndarray)  # lazy
    np.testing.assert_array_equal(z[...], img)
    imsave(tmp_path / "e.jpg", img, check_contrast=False)
    assert np.abs(read_image(tmp_path / "e.jpg").astype(int) - img).mean() < 10


def test_folders_are_sorted_and_zarr_is_one_input(tmp_path):
    for name in ("b.tif", "a.tif", "c.npy"):
        if name.endswith(".npy"):
            np.save(tmp_path / name, _image())
        else:
            tifffile.imwrite(tmp_path / name, _image())
    write_result(tmp_path / "z.zarr", _image())
    (tmp_path / "notes.txt").write_text("not an image")
    files = expand_inputs([tmp_path])
    assert [f.name for f in files] == ["a.tif", "b.tif", "c.npy", "z.zarr"]
    assert expand_inputs([tmp_path / "z.zarr"]) == [tmp_path / "z.zarr"]


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.tif"):
        expand_inputs([tmp_path / "missing.tif"])
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="unknown suffix"):
        expand_inputs([tmp_path / "x.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no image"):
        expand_inputs([tmp_path / "empty"])
    (tmp_path / "broken.tif").write_bytes(b"not a tif at all")
    with pytest.raises(ValueError, match=r"broken\.tif"):
        read_image(tmp_path / "broken.tif")


def test_write_results_round_trip(tmp_path):
    probs = np.random.default_rng(1).random((3, 8, 10), dtype=np.float32)
    p = write_result(output_path(tmp_path, "dir/img.ome.tif", "probabilities"), probs)
    assert p.name == "img_probabilities.tif"
    back = tifffile.imread(p)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, probs)
    z = write_result(output_path(tmp_path, "img.zarr", "classes", "zarr"),
                     np.ones((8, 10), np.uint8))
    assert z.name == "img_classes.zarr"
    np.testing.assert_array_equal(read_image(z)[...], 1)
    # overwrite an existing zarr store
    write_result(z, np.full((4, 4), 2, np.uint8))
    assert read_image(z).shape == (4, 4)
    import dask.array as da

    lazy = da.from_array(probs, chunks=(1, 4, 5))
    zz = write_result(tmp_path / "lazy.zarr", lazy)
    np.testing.assert_array_equal(read_image(zz)[...], probs)
    assert sorted(q.name for q in tmp_path.iterdir()) == [
        "img_classes.zarr", "img_probabilities.tif", "lazy.zarr"]


def test_guess_axes():
    assert guess_axes((10, 12)) == "YX"
    assert guess_axes((5, 10, 12)) == "ZYX"
    assert guess_axes((5, 10, 12), dims=3) == "ZYX"
    assert guess_axes((10, 12, 3), in_channels=3) == "YXC"
    assert guess_axes((2, 10, 12), in_channels=2) == "CYX"
    assert stem("a/b/c.tiff") == "c"
    with pytest.raises(ValueError, match="axes"):
        guess_axes((10,))
