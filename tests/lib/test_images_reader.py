"""rg4cli.images: one reader for 8/16-bit PNG/JPEG and DICOM; paths confined to --image-root."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from rg4cli.errors import InputError
from rg4cli.images import ImageRoot, check_image, load_image, read_image, resolve_image, write_dicom, write_png16
from rg4cli.model.encoders import tiny_image_encoder
from rg4cli.model.presets import TINY
from rg4cli.synth.images import save_image
from rg4cli.synth.specs import render_images
from rg4cli.synth.studies import generate_studies

MEAN, STD = 0.5, 0.25  # the tiny processor's normalisation, undone to compare in [0, 1] pixel units


def _encoder_input(images) -> np.ndarray:
    """What the image encoder receives, in [0, 1] pixel units (the processor's normalisation undone)."""
    _, processor = tiny_image_encoder(TINY)
    px = processor(images=list(images), return_tensors="pt")["pixel_values"].numpy()
    return px * STD + MEAN


@pytest.fixture(scope="module")
def phantoms():
    """Float phantoms (before 8-bit quantisation) of several studies and both views, at the encoder's
    input size: the processor then does no resampling, whose own 8-bit rounding could add a level."""
    out = []
    for spec in generate_studies(3, seed=5, image_size=TINY["image_size"])[:4]:
        out.extend(render_images(spec, unit=True).values())
    return out


def test_a_16bit_phantom_and_its_8bit_twin_give_the_same_encoder_input(tmp_path, phantoms):
    worst = 0.0
    for k, unit in enumerate(phantoms):
        save_image(unit, tmp_path / f"{k}_8.png", "png")
        save_image(unit, tmp_path / f"{k}_16.png", "png16")
        assert Image.open(tmp_path / f"{k}_16.png").mode.startswith("I")
        a = _encoder_input([read_image(tmp_path / f"{k}_8.png")])
        b = _encoder_input([read_image(tmp_path / f"{k}_16.png")])
        worst = max(worst, float(np.abs(a - b).max()))
    assert worst <= 1 / 255 + 1e-6


def test_a_16bit_image_is_not_clipped_to_white(tmp_path):
    ramp = np.tile(np.linspace(0, 1, 256), (32, 1))
    write_png16(ramp, tmp_path / "ramp.png")
    gray = np.asarray(read_image(tmp_path / "ramp.png"))[..., 0]
    assert gray.min() == 0 and gray.max() == 255 and (gray == 255).mean() < 0.01
    # 12-bit data in a 16-bit container (no sBIT) reads with its own range, not as near-black
    Image.fromarray((ramp * 4095 + 0.5).astype(np.uint16)).save(tmp_path / "twelve.png")
    assert np.asarray(read_image(tmp_path / "twelve.png"))[..., 0].max() == 255


@pytest.mark.parametrize("window", [None, (0.5, 0.7)])
def test_dicom_monochrome1_and_monochrome2_twins_give_the_same_encoder_input(tmp_path, phantoms, window):
    worst = 0.0
    for k, unit in enumerate(phantoms):
        write_dicom(unit, tmp_path / f"{k}_m2.dcm", window=window, slope=2.0, intercept=-1024.0)
        write_dicom(unit, tmp_path / f"{k}_m1.dcm", window=window, slope=2.0, intercept=-1024.0, monochrome1=True)
        a = _encoder_input([read_image(tmp_path / f"{k}_m2.dcm")])
        b = _encoder_input([read_image(tmp_path / f"{k}_m1.dcm")])
        worst = max(worst, float(np.abs(a - b).max()))
    assert worst <= 1 / 255 + 1e-6


def test_dicom_without_a_window_matches_the_png_twin(tmp_path, phantoms):
    unit = phantoms[0]
    save_image(unit, tmp_path / "a.png", "png")
    write_dicom(unit, tmp_path / "a.dcm")
    a = np.asarray(read_image(tmp_path / "a.png"), dtype=int)
    b = np.asarray(read_image(tmp_path / "a.dcm"), dtype=int)
    # no window: the image's own range is stretched to 0..255; the phantom spans nearly all of it
    lo, hi = float(unit.min()), float(unit.max())
    expected = np.clip(((np.clip(unit, 0, 1) - lo) / (hi - lo)) * 255 + 0.5, 0, 255).astype(int)
    assert np.abs(b[..., 0] - expected).max() <= 1
    assert a.shape == b.shape


def test_a_compressed_dicom_without_its_decoder_names_what_to_install(tmp_path, monkeypatch):
    import pydicom
    from pydicom.uid import JPEGLSLossless

    write_dicom(np.zeros((8, 8)), tmp_path / "c.dcm")
    ds = pydicom.dcmread(tmp_path / "c.dcm")
    from pydicom.encaps import encapsulate

    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8not-really-jpeg-ls\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "c.dcm")
    from pydicom.pixels import get_decoder

    if get_decoder(JPEGLSLossless).is_available:
        pytest.skip("a JPEG-LS decoder is installed here")
    with pytest.raises(InputError) as err:
        check_image(None, str(tmp_path / "c.dcm"))
    assert "JPEG-LS" in str(err.value) and "install" in str(err.value)


def _png_header_only(path, width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [20000, 9000])
def test_a_huge_png_header_is_one_error_before_any_pixel_is_decoded(tmp_path, side):
    _png_header_only(tmp_path / "big.png", side, side)
    for fn in (check_image, load_image):
        with pytest.raises(InputError) as err:
            fn(tmp_path, "big.png", source="in.jsonl", line=3)
        assert str(err.value).startswith("in.jsonl:3: frontal: cannot read image")
        assert "\n" not in str(err.value)


def test_paths_stay_inside_the_image_root_and_every_unreadable_path_reads_alike(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "secret.png"
    Image.new("L", (8, 8)).save(outside)
    Image.new("L", (8, 8)).save(root / "ok.png")
    os.symlink(outside, root / "link.png")
    (root / "dir.png").mkdir()
    assert resolve_image(root, "ok.png") == root / "ok.png"
    messages = {}
    for rel in ("../secret.png", str(outside), "link.png", "missing.png", "../missing.png", "dir.png"):
        with pytest.raises(InputError) as err:
            resolve_image(ImageRoot(root), rel)
        messages[rel] = str(err.value).replace(rel, "PATH")
    assert len(set(messages.values())) == 1, messages  # existence outside the root is not revealed
    assert "--allow-outside-image-root" in next(iter(messages.values()))
    allowed = ImageRoot(root, allow_outside=True)
    assert resolve_image(allowed, "../secret.png").resolve() == outside.resolve()
    assert resolve_image(allowed, "link.png").resolve() == outside.resolve()
