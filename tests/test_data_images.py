"""Reading single images: every PIL mode becomes the right RGB, bad files give one-line DataErrors, and the
torch dataset / mask reader return the documented shapes and types."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from adnkit.core.errors import DataError
from adnkit.data import ImageDataset, Sample, read_image, read_mask
from adnkit.data.images import check_images, is_image_file, to_rgb


def test_rgb_image_is_returned_unchanged(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.mode == "RGB" and img.size == (50, 40)
    np.testing.assert_array_equal(np.asarray(img), pixels)


def test_grayscale_repeats_into_three_channels(tmp_path):
    grey = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    rgb = np.asarray(read_image(tmp_path / "g.png"))
    assert rgb.shape == (48, 48, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], grey)


def test_rgba_drops_alpha_and_keeps_colour(tmp_path):
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 200, 100, 50, 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    rgb = np.asarray(read_image(tmp_path / "a.png"))
    assert rgb.shape == (40, 40, 3)
    assert (rgb == [200, 100, 50]).all()


def test_palette_image_maps_through_its_palette(tmp_path):
    img = Image.new("P", (40, 40))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.paste(1, (0, 0, 40, 20))  # top half: palette entry 1 = blue; bottom: entry 0 = red
    img.save(tmp_path / "p.png")
    rgb = np.asarray(read_image(tmp_path / "p.png"))
    assert (rgb[:20] == [0, 0, 255]).all() and (rgb[20:] == [255, 0, 0]).all()


def test_palette_with_transparency_loads_without_warning(tmp_path, recwarn):
    img = Image.new("P", (40, 40))
    img.putpalette([10, 20, 30] * 256)
    img.info["transparency"] = 0
    img.save(tmp_path / "t.png", transparency=0)
    assert (np.asarray(read_image(tmp_path / "t.png")) == [10, 20, 30]).all()
    assert not [w for w in recwarn if "Palette" in str(w.message)]


def test_16_bit_is_scaled_by_its_own_range_not_clipped(tmp_path):
    values = np.linspace(1000, 3000, 64 * 64).reshape(64, 64).astype(np.uint16)  # 12-bit-like data
    Image.fromarray(values).save(tmp_path / "d.png")
    with Image.open(tmp_path / "d.png") as raw:
        assert raw.mode.startswith("I")  # stored with 16 bits
    rgb = np.asarray(read_image(tmp_path / "d.png")).astype(int)
    assert rgb.shape == (64, 64, 3)
    assert rgb.min() == 0 and rgb.max() == 255  # full range used, not 1000/257 .. 3000/257
    expected = np.rint((values.astype(float) - 1000) / 2000 * 255)
    np.testing.assert_array_equal(rgb[..., 1], expected)


def test_32_bit_integer_mode_is_scaled_too():
    values = np.array([[-5, 0], [5, 15]], dtype=np.int32)
    rgb = np.asarray(to_rgb(Image.fromarray(values, "I")))
    np.testing.assert_array_equal(rgb[..., 0], [[0, 64], [128, 255]])


def test_truncated_png_is_a_bad_image(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(DataError, match=r"cut\.png: cannot decode image.*--skip-bad-images"):
        read_image(tmp_path / "cut.png")


def test_corrupt_jpeg_is_a_bad_image(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    data[2:200] = b"\x00" * 198  # wipe the headers after the start marker
    (tmp_path / "bad.jpg").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"bad\.jpg: cannot decode image"):
        read_image(tmp_path / "bad.jpg")


def test_text_file_with_image_extension_is_a_bad_image(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(DataError, match="notes.png"):
        read_image(tmp_path / "notes.png")


def test_too_small_image_names_the_setting(tmp_path):
    Image.new("RGB", (100, 20)).save(tmp_path / "thin.png")
    with pytest.raises(DataError, match=r"thin\.png: image is 100x20 px.*min_image_side=32"):
        read_image(tmp_path / "thin.png")
    assert read_image(tmp_path / "thin.png", min_side=16).size == (100, 20)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_image(tmp_path / "nope.png")


def test_error_messages_are_one_line(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError) as err:
        read_image(tmp_path / "x.png")
    assert "\n" not in str(err.value)


def test_which_files_count_as_images(tmp_path):
    for name in ("a.PNG", "b.jpeg", "c.txt", ".DS_Store", "._d.png", "Thumbs.db"):
        (tmp_path / name).write_bytes(b"x")
    assert sorted(p.name for p in tmp_path.iterdir() if is_image_file(p)) == ["a.PNG", "b.jpeg"]


def test_check_images_reports_only_bad_ones(tmp_path):
    Image.new("RGB", (40, 40)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"nope")
    bad = check_images([tmp_path / "ok.png", tmp_path / "bad.png"])
    assert list(bad) == [tmp_path / "bad.png"]


def test_image_dataset_returns_uint8_square_and_index(tmp_path):
    Image.new("L", (120, 60), 77).save(tmp_path / "a.png")
    Image.new("RGB", (50, 90), (1, 2, 3)).save(tmp_path / "b.png")
    ds = ImageDataset([Sample(tmp_path / "a.png", 0, "good"), Sample(tmp_path / "b.png", 1, "x")], 64)
    assert len(ds) == 2
    x, i = ds[1]
    assert i == 1 and x.dtype == torch.uint8 and x.shape == (3, 64, 64)
    assert x[:, 10, 10].tolist() == [1, 2, 3]
    x, i = ds[0]
    assert i == 0 and (x == 77).all()


def test_image_dataset_resizes_with_antialias(tmp_path):
    stripes = np.zeros((256, 256), dtype=np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: an antialiased 4x shrink gives mid grey, not 0/255
    Image.fromarray(stripes).save(tmp_path / "s.png")
    x, _ = ImageDataset([Sample(tmp_path / "s.png", 0, "good")], 64)[0]
    assert 100 < x.float().mean() < 155 and x.float().std() < 20


def test_read_mask(tmp_path):
    mask = np.zeros((100, 100), dtype=np.uint8)
    mask[:50] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    Image.new("RGB", (100, 100)).save(tmp_path / "i.png")
    m = read_mask(Sample(tmp_path / "i.png", 1, "scratch", tmp_path / "m.png"), 32)
    assert m.dtype == torch.bool and m.shape == (32, 32)
    assert m[:16].all() and not m[16:].any()
    assert not read_mask(Sample(tmp_path / "i.png", 0, "good"), 32).any()
    assert not read_mask(Sample(tmp_path / "i.png", 1, "scratch", None), 32).any()
