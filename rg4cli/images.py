"""The one image reader of train, generate and build-data, and the rule for image paths.

Decoding (every result is an 8-bit RGB PIL image, grayscale replicated to 3 channels,
which is what the image processors of RAD-DINO and the tiny preset take):

- 8-bit PNG / JPEG / anything PIL reads as L, RGB, P, LA, RGBA: converted as they are.
- 16-bit grayscale PNG or TIFF (PIL mode I;16 / I): divided by the largest value its bit
  depth can hold. The depth is the PNG's sBIT chunk when the file has one; otherwise 16
  bits, except that an image whose values all stay below 4096 (or 16384) is read as 12-bit
  (14-bit) data, the usual detector output stored in a 16-bit container. Linear, no
  per-image stretch, so a 16-bit image and its 8-bit twin give the same pixels (to one level).
- DICOM (.dcm / .dicom, or the DICM magic at byte 128), through pydicom: the modality
  transform (Rescale Slope / Intercept or a Modality LUT), then the VOI transform: the
  first Window Center / Width (DICOM's linear window), else the first VOI LUT, else the
  image's own lowest..highest value; MONOCHROME1 is inverted so bone is bright, as in
  MONOCHROME2. The first frame of a multi-frame object is used. Compressed transfer
  syntaxes decode through pydicom's optional plugins (pylibjpeg, python-gdcm, ...); when
  none is installed the error names what to install.
- Size: an image over MAX_PIXELS (by its header, before any pixel is decoded) is refused
  with one line, so a PNG claiming 20000 x 20000 cannot exhaust memory.

Paths (docs/records.md "Images"): a relative path is resolved against --image-root. With a root,
the resolved file (symlinks followed) must lie inside it: absolute paths, `..` and links
that leave the root are refused unless the user passes --allow-outside-image-root. Every
path that cannot be read (missing, a directory, no permission, or outside the root) gets
the same message, naming the path as the record gives it, so the message never tells
whether something exists outside the root.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from rg4cli.errors import InputError

# 8000 x 8000: a chest radiograph is at most about 4300 x 4300 (18 M pixels).
MAX_PIXELS = 64_000_000
DICOM_SUFFIXES = (".dcm", ".dicom")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp") + DICOM_SUFFIXES
ALLOW_OUTSIDE_FLAG = "--allow-outside-image-root"


class ImageRoot(os.PathLike):
    """--image-root and whether paths may leave it; usable wherever a path is (os.fspath)."""

    def __init__(self, path: str | os.PathLike, *, allow_outside: bool = False):
        self.path = Path(path)
        self.allow_outside = allow_outside

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"ImageRoot({str(self.path)!r}, allow_outside={self.allow_outside})"

    @classmethod
    def of(cls, path: str | os.PathLike | None, allow_outside: bool = False) -> ImageRoot | None:
        return None if path is None else cls(path, allow_outside=allow_outside)


def _inside(path: Path, root: Path) -> bool:
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    try:
        return os.path.commonpath([real, real_root]) == real_root
    except ValueError:  # different drives
        return False


def file_under(root: str | os.PathLike, rel: str) -> bool:
    """Whether `rel` names a file inside `root` (build-data's existence checks: a listing
    cannot make them probe files elsewhere)."""
    path = Path(root) / rel
    return _inside(path, Path(root)) and path.is_file()


def resolve_image(
    image_root: str | os.PathLike | None,
    rel: str,
    *,
    field_name: str = "frontal",
    source: str | None = None,
    line: int | None = None,
) -> Path:
    """The file an image path names (see module doc); InputError with one message otherwise."""
    path = Path(rel)
    if image_root is not None:
        root = Path(os.fspath(image_root))
        path = path if path.is_absolute() else root / path
        allowed = getattr(image_root, "allow_outside", False) or _inside(path, root)
    else:
        allowed = True
    if allowed and path.is_file() and os.access(path, os.R_OK):
        return path
    if image_root is None:
        where = " (relative paths are resolved against --image-root, else the working directory)"
    else:
        where = (
            f" under --image-root {os.fspath(image_root)} (paths that leave it are refused unless {ALLOW_OUTSIDE_FLAG})"
        )
    raise InputError(
        f"image not found: {rel} (no readable file at that path{where})", source=source, line=line, field=field_name
    )


# ---- decoding -----------------------------------------------------------------------
def is_dicom(path: str | os.PathLike) -> bool:
    if str(path).lower().endswith(DICOM_SUFFIXES):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def png_significant_bits(path: str | os.PathLike) -> int | None:
    """The gray sample depth a PNG's sBIT chunk declares (None without one, or not a PNG)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            for _ in range(64):  # sBIT precedes IDAT; a few ancillary chunks at most
                head = fh.read(8)
                if len(head) < 8:
                    return None
                length, kind = struct.unpack(">I4s", head)
                if kind == b"sBIT":
                    data = fh.read(length)
                    return int(data[0]) if data and 1 <= data[0] <= 16 else None
                if kind in (b"IDAT", b"IEND"):
                    return None
                fh.seek(length + 4, os.SEEK_CUR)
    except OSError:
        return None
    return None


def _to_rgb8(unit: Any):
    """[H, W] float array in [0, 1] -> 8-bit RGB PIL image."""
    import numpy as np
    from PIL import Image

    gray = (np.clip(unit, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(gray, mode="L").convert("RGB")


def _stretch(arr):
    lo, hi = float(arr.min()), float(arr.max())
    return (arr - lo) / (hi - lo) if hi > lo else arr * 0.0


def _check_size(width: int, height: int, frames: int = 1) -> None:
    if width * height * max(1, frames) > MAX_PIXELS:
        raise ValueError(
            f"{width} x {height}"
            + (f" x {frames} frames" if frames > 1 else "")
            + f" pixels: its header claims more pixels than the limit of {MAX_PIXELS:,} "
            "(not a chest radiograph?)"
        )


def _open_pil(path: Path):
    from PIL import Image

    img = Image.open(path)
    _check_size(*img.size)
    return img


def _decode_pil(path: Path):
    import warnings

    import numpy as np
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies
        with _open_pil(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I;16S", "I"):
                arr = np.asarray(img, dtype=np.float64)
                if arr.size and arr.min() < 0:  # signed data has no fixed full scale: its own range
                    return _to_rgb8(_stretch(arr))
                bits = png_significant_bits(path)
                if bits is None:
                    top = float(arr.max()) if arr.size else 0.0
                    bits = 12 if top < 4096 else 14 if top < 16384 else 16
                return _to_rgb8(arr / float(2**bits - 1))
            if img.mode == "F":
                return _to_rgb8(_stretch(np.asarray(img, dtype=np.float64)))
            return img.convert("RGB")


def _dicom_decoder_problem(ds) -> str | None:
    """Why this file's pixel data cannot be decoded here (a missing optional decoder), or None."""
    from pydicom.pixels import get_decoder

    uid = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if uid is None:
        return None
    try:
        decoder = get_decoder(uid)
    except (NotImplementedError, ValueError):
        return f"transfer syntax {getattr(uid, 'name', uid)} has no pixel decoder in pydicom"
    if decoder.is_available:
        return None
    missing = "; ".join(decoder.missing_dependencies) or "a decoding plugin"
    return (
        f"compressed transfer syntax {uid.name} needs one of pydicom's optional decoders, none is installed "
        f"({missing}): e.g. pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg, or python-gdcm"
    )


def _dicom_header(path: Path):
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    if "Rows" not in ds or "Columns" not in ds:
        raise ValueError("a DICOM object without an image (no Rows / Columns)")
    _check_size(int(ds.Columns), int(ds.Rows), int(ds.get("NumberOfFrames", 1) or 1))
    problem = _dicom_decoder_problem(ds)
    if problem:
        raise ValueError(problem)
    return ds


def _decode_dicom(path: Path):
    import numpy as np
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi

    _dicom_header(path)
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        rgb = arr[0] if frames > 1 else arr
        if rgb.dtype != np.uint8:
            rgb = (_stretch(rgb.astype(np.float64)) * 255.0 + 0.5).astype(np.uint8)
        from PIL import Image

        return Image.fromarray(np.ascontiguousarray(rgb)).convert("RGB")
    if frames > 1:
        arr = arr[0]
    values = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        center = float(ds.WindowCenter[0] if ds["WindowCenter"].VM > 1 else ds.WindowCenter)
        width = max(1.0, float(ds.WindowWidth[0] if ds["WindowWidth"].VM > 1 else ds.WindowWidth))
        unit = (values - (center - 0.5)) / (width - 1.0) + 0.5 if width > 1 else (values >= center) * 1.0
    elif "VOILUTSequence" in ds:
        item = ds.VOILUTSequence[0]
        unit = np.asarray(apply_voi(arr, ds), dtype=np.float64) / float(2 ** int(item.LUTDescriptor[2]) - 1)
    else:
        unit = _stretch(values)
    unit = np.clip(unit, 0.0, 1.0)
    if photometric == "MONOCHROME1":
        unit = 1.0 - unit
    return _to_rgb8(unit)


def _problem(exc: BaseException, path: Path) -> str:
    from PIL import Image, UnidentifiedImageError

    if isinstance(exc, Image.DecompressionBombError):  # PIL's own, larger limit hit first at open
        return f"its header claims more pixels than the limit of {MAX_PIXELS:,} (not a chest radiograph?)"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image format PIL can decode (empty, truncated or another file type?)"
    detail = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return detail.replace(f"'{path}'", "").replace(str(path), "").strip(" :")[:300] or exc.__class__.__name__


def _image_errors() -> tuple[type[BaseException], ...]:
    from PIL import Image, UnidentifiedImageError

    errors: list[type[BaseException]] = [
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        MemoryError,
        Image.DecompressionBombError,
        KeyError,
        IndexError,
        AttributeError,
        TypeError,
        RuntimeError,
        NotImplementedError,
    ]
    try:
        from pydicom.errors import InvalidDicomError

        errors.append(InvalidDicomError)
    except ImportError:  # pragma: no cover - pydicom is a dependency
        pass
    return tuple(errors)


def read_image(
    path: str | os.PathLike, *, field_name: str = "frontal", source: str | None = None, line: int | None = None
):
    """Decode one image file (see module doc) to 8-bit RGB; InputError naming the path otherwise."""
    path = Path(path)
    try:
        return _decode_dicom(path) if is_dicom(path) else _decode_pil(path)
    except _image_errors() as exc:
        raise InputError(
            f"cannot read image {path}: {_problem(exc, path)}", source=source, line=line, field=field_name
        ) from None


def probe_image(
    path: str | os.PathLike, *, field_name: str = "frontal", source: str | None = None, line: int | None = None
) -> Path:
    """The cheap check: the header is an image of an acceptable size and can be decoded here."""
    path = Path(path)
    try:
        if is_dicom(path):
            _dicom_header(path)
        else:
            with _open_pil(path):
                pass
    except _image_errors() as exc:
        raise InputError(
            f"cannot read image {path}: {_problem(exc, path)}", source=source, line=line, field=field_name
        ) from None
    return path


def load_image(
    image_root, rel: str, *, field_name: str = "frontal", source: str | None = None, line: int | None = None
):
    """Resolve (resolve_image) and decode (read_image) one image of a record."""
    path = resolve_image(image_root, rel, field_name=field_name, source=source, line=line)
    return read_image(path, field_name=field_name, source=source, line=line)


def check_image(
    image_root, rel: str, *, field_name: str = "frontal", source: str | None = None, line: int | None = None
) -> Path:
    """Resolve and probe one image of a record, so errors name the record's line at once."""
    path = resolve_image(image_root, rel, field_name=field_name, source=source, line=line)
    return probe_image(path, field_name=field_name, source=source, line=line)


# ---- writing (rg4 synth) ----------------------------------------------------------------
def write_png16(unit: Any, path: str | os.PathLike) -> None:
    """[H, W] float array in [0, 1] -> a 16-bit grayscale PNG (full 0..65535 range)."""
    import numpy as np
    from PIL import Image

    values = (np.clip(np.asarray(unit, dtype=np.float64), 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    Image.fromarray(values).save(path, format="PNG")


def write_dicom(
    unit: Any,
    path: str | os.PathLike,
    *,
    bits: int = 12,
    monochrome1: bool = False,
    window: tuple[float, float] | None = None,
    slope: float = 1.0,
    intercept: float = 0.0,
    uids: dict | None = None,
    view: str | None = None,
    tags: dict | None = None,
) -> None:
    """[H, W] float array in [0, 1] -> an uncompressed DICOM Digital X-Ray object (rg4 synth).

    Stored value s = round(unit * (2**bits - 1)), inverted for MONOCHROME1, so that the
    modality value (s * slope + intercept) read back through `read_image` gives `unit`.
    `window` (center, width) is given as fractions of the displayed range (0..1, bright
    = 1) and written in modality units, mirrored for MONOCHROME1, so twins that differ
    only in photometric interpretation display alike; `tags` adds plain attributes
    (StudyInstanceUID, ViewPosition, PatientID, ...).
    """
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    top = 2**bits - 1
    stored = np.clip(np.asarray(unit, dtype=np.float64), 0.0, 1.0) * top
    if monochrome1:
        stored = top - stored
    stored = (stored + 0.5).astype(np.uint16)
    uids = dict(uids or {})
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image - For Presentation
    meta.MediaStorageSOPInstanceUID = uids.get("SOPInstanceUID") or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = uids.get("StudyInstanceUID") or generate_uid()
    ds.SeriesInstanceUID = uids.get("SeriesInstanceUID") or generate_uid()
    ds.Modality = "DX"
    if view:
        ds.ViewPosition = view
    for key, value in (tags or {}).items():
        setattr(ds, key, value)
    ds.Rows, ds.Columns = int(stored.shape[0]), int(stored.shape[1])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, 0
    ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
    if window is not None:
        center = (1.0 - window[0] if monochrome1 else window[0]) * top * slope + intercept
        ds.WindowCenter, ds.WindowWidth = f"{center:.6g}", f"{window[1] * top * slope:.6g}"
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)
