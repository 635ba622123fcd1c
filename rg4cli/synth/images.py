"""Phantom chest radiographs: grayscale frontal and lateral images with visible findings.

The phantoms are drawn to be learnable at low resolution (128 px by default), not to
be realistic: every finding has its own intensity and shape in a fixed place of the
anatomy, so a tiny model trained on a few hundred images can tell them apart.

- cardiomegaly: a wider heart (cardiothoracic ratio ~0.37 normal up to ~0.62);
- mediastinal widening: a wider upper mediastinum;
- pleural effusion: bright fluid with a meniscus at the costophrenic angle;
- pneumothorax: a dark rim without lung markings and a thin visceral pleural line;
- consolidation: a dense bright patch; lung opacity: a fainter, hazier patch;
- edema: symmetric bilateral perihilar haze, Kerley lines when moderate or worse;
- atelectasis: a thin plate-like bright band at a lung base;
- lung lesion: a sharply marginated round nodule or mass;
- pleural thickening: a bright apical cap;
- fracture: a rib with a gap and a step;
- support devices: thin very bright lines (tubes, catheters) and a pacemaker box.

Image convention: the patient's right is on the image's left (frontal); on the
lateral view anterior is on the left. Coordinates are fractions of the image side.
Everything is deterministic given the numpy Generator passed in.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

# Visual finding kinds and the CheXpert observation each one shows.
KIND_OBSERVATION: dict[str, str] = {
    "cardiomegaly": "Cardiomegaly",
    "mediastinal_widening": "Enlarged Cardiomediastinum",
    "effusion": "Pleural Effusion",
    "pneumothorax": "Pneumothorax",
    "consolidation": "Consolidation",
    "opacity": "Lung Opacity",
    "edema": "Edema",
    "atelectasis": "Atelectasis",
    "lesion": "Lung Lesion",
    "pleural_thickening": "Pleural Other",
    "fracture": "Fracture",
    "ett": "Support Devices",
    "ng_tube": "Support Devices",
    "central_line": "Support Devices",
    "pacemaker": "Support Devices",
    "chest_tube": "Support Devices",
}
DEVICE_KINDS = ("ett", "ng_tube", "central_line", "pacemaker", "chest_tube")
# Which kinds the lateral phantom draws (a pneumothorax, a rib fracture or an apical
# cap is not reliably seen on a lateral radiograph, so the lateral leaves them out).
LATERAL_KINDS = frozenset(
    {
        "cardiomegaly",
        "effusion",
        "consolidation",
        "opacity",
        "edema",
        "atelectasis",
        "lesion",
        "ett",
        "ng_tube",
        "pacemaker",
        "chest_tube",
    }
)


@dataclass
class VisualFinding:
    """One thing drawn in the images.

    level: 1..3 (small/moderate/large, mild/moderate/severe); side: "right", "left",
    "bilateral" or None; zone: "upper", "mid", "lower" or None; uncertain findings are
    drawn smaller and fainter (the report hedges them). dx, dy jitter the position,
    rib is the fractured rib's index.
    """

    kind: str
    side: str | None = None
    level: int = 1
    zone: str | None = None
    uncertain: bool = False
    dx: float = 0.0
    dy: float = 0.0
    rib: int = 0
    pneumonia: str | None = None  # what the report concludes: "positive", "uncertain" or None (not drawn)

    @property
    def observation(self) -> str:
        return KIND_OBSERVATION[self.kind]

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "observation": self.observation,
            "side": self.side,
            "level": self.level,
            "zone": self.zone,
            "uncertain": self.uncertain,
            "views": ["frontal", "lateral"] if self.kind in LATERAL_KINDS else ["frontal"],
            "dx": round(self.dx, 4),
            "dy": round(self.dy, 4),
            "rib": self.rib,
            "pneumonia": self.pneumonia,
        }


@dataclass
class Anatomy:
    """A patient's body habitus; the same for all of a subject's studies."""

    lung_cy: float = 0.46
    lung_rx: float = 0.15
    lung_ry: float = 0.29
    lung_gap: float = 0.185  # lung centres at 0.5 -/+ gap
    dome_right: float = 0.70  # diaphragm dome height under each lung
    dome_left: float = 0.72
    heart_rx: float = 0.135
    heart_cy: float = 0.63
    body_rx: float = 0.46
    brightness: float = 1.0
    markings_seed: int = 0
    extras: dict = field(default_factory=dict)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Anatomy:
        s = rng.uniform(0.95, 1.05)
        return cls(
            lung_cy=0.46 + rng.uniform(-0.015, 0.015),
            lung_rx=0.15 * s,
            lung_ry=0.29 * rng.uniform(0.95, 1.05),
            lung_gap=0.185 * s,
            dome_right=0.70 + rng.uniform(-0.015, 0.015),
            dome_left=0.72 + rng.uniform(-0.015, 0.015),
            heart_rx=0.135 * rng.uniform(0.95, 1.05),
            heart_cy=0.63 + rng.uniform(-0.01, 0.01),
            body_rx=0.46 * s,
            brightness=rng.uniform(0.92, 1.08),
            markings_seed=int(rng.integers(0, 2**31)),
        )


LESION_RADIUS = {1: 0.024, 2: 0.034, 3: 0.05}  # nodule, larger nodule, mass
HEART_RX_BY_LEVEL = {0: 1.0, 1: 1.3, 2: 1.5, 3: 1.7}  # x heart_rx: CTR ~0.37, 0.47, 0.54, 0.62


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    return np.meshgrid(c, c)  # X, Y


def _soft(d: np.ndarray, edge: float) -> np.ndarray:
    """1 inside (d < 0), 0 outside, linear ramp of width `edge` across d = 0."""
    return np.clip(0.5 - d / edge, 0.0, 1.0)


def _ellipse_r(X, Y, cx, cy, rx, ry) -> np.ndarray:
    return np.sqrt(((X - cx) / rx) ** 2 + ((Y - cy) / ry) ** 2)


def _layer(size: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    im = Image.new("F", (size, size), 0.0)
    return im, ImageDraw.Draw(im)


def _pts(points: Sequence[tuple[float, float]], size: int) -> list[tuple[float, float]]:
    return [(x * size, y * size) for x, y in points]


def _line_width(size: int, scale: float = 1.0) -> int:
    return max(1, int(round(size / 90 * scale)))


def _curve(p0, p1, p2, n: int = 16) -> list[tuple[float, float]]:
    """Quadratic Bezier points from p0 to p2 bent towards p1."""
    t = np.linspace(0, 1, n)
    x = (1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * p1[0] + t**2 * p2[0]
    y = (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * p1[1] + t**2 * p2[1]
    return list(zip(x.tolist(), y.tolist()))


def _sides(side: str | None) -> list[str]:
    return ["right", "left"] if side in (None, "bilateral") else [side]


ZONE_DY = {"upper": -0.16, "mid": 0.0, "lower": 0.12, None: 0.05}


# ---- frontal -----------------------------------------------------------------
class _Frontal:
    def __init__(self, size: int, anatomy: Anatomy):
        self.size = size
        self.a = anatomy
        self.X, self.Y = _grid(size)
        self.edge = 1.5 / size

    def lung_cx(self, side: str) -> float:
        return 0.5 - self.a.lung_gap if side == "right" else 0.5 + self.a.lung_gap

    def diaphragm_y(self, side: str) -> np.ndarray:
        """Height of the hemidiaphragm under one lung, per column (dome shape)."""
        cx = self.lung_cx(side)
        dome = self.a.dome_right if side == "right" else self.a.dome_left
        t = np.clip((self.X - cx) / (self.a.lung_rx * 1.1), -1, 1)
        return dome + 0.06 * t**2

    def lung_r(self, side: str) -> np.ndarray:
        return _ellipse_r(self.X, self.Y, self.lung_cx(side), self.a.lung_cy, self.a.lung_rx, self.a.lung_ry)

    def lung_mask(self, side: str) -> np.ndarray:
        r = self.lung_r(side)
        inside = _soft(r - 1.0, self.edge / self.a.lung_rx)
        above = _soft(self.Y - self.diaphragm_y(side), self.edge)
        return inside * above


def render_frontal(
    findings: Sequence[VisualFinding],
    size: int,
    anatomy: Anatomy,
    rng: np.random.Generator,
    view: str = "PA",
    heart_level: int = 0,
    unit: bool = False,
) -> np.ndarray:
    """Draw a frontal (PA/AP) phantom; returns a uint8 array (size x size), or floats in [0, 1] with `unit`."""
    f = _Frontal(size, anatomy)
    X, Y, a = f.X, f.Y, anatomy
    by_kind: dict[str, list[VisualFinding]] = {}
    for fd in findings:
        by_kind.setdefault(fd.kind, []).append(fd)

    img = np.full((size, size), 0.04, dtype=np.float32)
    body = _soft(_ellipse_r(X, Y, 0.5, 0.6, a.body_rx, 0.56) - 1.0, 0.02)
    neck = _soft(np.abs(X - 0.5) - 0.11, 0.02) * (Y < 0.2)
    img = np.maximum(img, 0.40 * np.maximum(body, neck))
    # Lung fields with vascular markings fanning out from the hila.
    mark_rng = np.random.default_rng(a.markings_seed)
    noise = gaussian_filter(mark_rng.standard_normal((size, size)).astype(np.float32), sigma=size / 60)
    noise = noise / (np.abs(noise).max() + 1e-6)
    lungs = {}
    markings = {}
    for side in ("right", "left"):
        m = f.lung_mask(side)
        hilum_x = 0.5 - 0.09 if side == "right" else 0.5 + 0.09
        dist = np.sqrt((X - hilum_x) ** 2 + (Y - 0.47) ** 2)
        mk = (0.06 * np.exp(-dist / 0.12) + 0.025 * (0.5 + 0.5 * noise)) * m
        lungs[side], markings[side] = m, mk
    # Pneumothorax: the rim of the lung is air without markings.
    ptx_rim = {"right": np.zeros_like(X), "left": np.zeros_like(X)}
    pleural_line = np.zeros_like(X)
    for fd in by_kind.get("pneumothorax", []):
        width = {1: 0.22, 2: 0.32, 3: 0.48}[fd.level] * (0.7 if fd.uncertain else 1.0)
        for side in _sides(fd.side):
            r = f.lung_r(side)
            upper = _soft(Y - (a.lung_cy + 0.08), 0.03)  # apical and lateral, not the base
            rim = _soft((1.0 - width) - r, 0.02) * upper
            ptx_rim[side] = np.maximum(ptx_rim[side], rim)
            pleural_line = np.maximum(pleural_line, np.exp(-(((r - (1.0 - width)) / 0.025) ** 2)) * upper * lungs[side])
    lung_val = np.zeros_like(X)
    lung_any = np.zeros_like(X)
    for side in ("right", "left"):
        rim = ptx_rim[side] * lungs[side]
        val = (0.17 + markings[side]) * (1 - rim) + 0.03 * rim
        lung_val += val * lungs[side]
        lung_any = np.maximum(lung_any, lungs[side])
    img = img * (1 - lung_any) + lung_val
    img = np.maximum(img, 0.30 * pleural_line)
    # Below the diaphragm: abdomen, with the gastric bubble under the left dome.
    below = np.zeros_like(X)
    for side in ("right", "left"):
        cx = f.lung_cx(side)
        cols = _soft(np.abs(X - cx) - a.lung_rx * 1.05, 0.01)
        below = np.maximum(below, cols * _soft(f.diaphragm_y(side) - Y, f.edge))
    img = img * (1 - below * body) + 0.50 * below * body
    bubble = _soft(_ellipse_r(X, Y, f.lung_cx("left") + 0.02, a.dome_left + 0.05, 0.045, 0.025) - 1, 0.1)
    img = img * (1 - 0.6 * bubble) + 0.15 * 0.6 * bubble
    # Mediastinum, spine and trachea.
    med_w = 0.055 + sum(0.035 * fd.level for fd in by_kind.get("mediastinal_widening", []))
    upper_med = _soft(np.abs(X - 0.5) - med_w * _soft(Y - 0.5, 0.2) - 0.055 * (1 - _soft(Y - 0.5, 0.2)), f.edge)
    upper_med = upper_med * _soft(Y - 0.62, 0.02) * (Y > 0.02)
    img = np.maximum(img, 0.55 * upper_med)
    img += 0.04 * _soft(np.abs(X - 0.5) - 0.025, 0.01) * body
    trachea = _soft(np.abs(X - 0.5) - 0.018, f.edge) * _soft(Y - 0.30, 0.02) * (Y > 0.0)
    img = img * (1 - 0.5 * trachea) + 0.22 * 0.5 * trachea
    # Heart, wider with cardiomegaly (AP projection magnifies it a little).
    level = max([fd.level for fd in by_kind.get("cardiomegaly", [])], default=heart_level)
    heart_rx = a.heart_rx * HEART_RX_BY_LEVEL[level] * (1.06 if view == "AP" else 1.0)
    heart = _soft(_ellipse_r(X, Y, 0.5 + 0.35 * heart_rx, a.heart_cy, heart_rx, 0.11) - 1.0, 2.5 * f.edge / heart_rx)
    img = img * (1 - heart) + 0.60 * heart

    # Ribs and clavicles: thin bright arcs drawn on a separate layer.
    rib_layer, draw = _layer(size)
    w = _line_width(size)
    fractures = {(fd.side, fd.rib): fd for fd in by_kind.get("fracture", [])}
    fracture_sites: list[tuple[float, float, VisualFinding]] = []
    for side in ("right", "left"):
        sgn = -1 if side == "right" else 1
        for i in range(9):
            y0 = 0.20 + i * 0.058
            pts = [
                (0.5 + sgn * (0.03 + t * (a.lung_rx * 2 + 0.03)), y0 - 0.035 * np.sin(np.pi * t * 0.8) + 0.07 * t**2)
                for t in np.linspace(0, 1, 14)
            ]
            fx = fractures.get((side, i))
            if fx is None:
                draw.line(_pts(pts, size), fill=1.0, width=w)
                continue
            # Gap of a few pixels and the lateral fragment stepped down.
            cut = 9
            gap = 1 if fx.uncertain else 2
            step = (0.012 if fx.uncertain else 0.025) * (1 + 0.3 * (fx.level - 1))
            draw.line(_pts(pts[:cut], size), fill=1.0, width=w)
            lateral = [(x, y + step) for x, y in pts[cut + gap :]]
            draw.line(_pts(lateral, size), fill=1.0, width=w)
            fracture_sites.append((pts[cut][0], pts[cut][1] + step / 2, fx))
        clav = [(0.5 + sgn * 0.04, 0.13), (0.5 + sgn * 0.2, 0.085), (0.5 + sgn * 0.34, 0.10)]
        draw.line(_pts(clav, size), fill=1.0, width=w + 1)
    ribs = np.asarray(rib_layer, dtype=np.float32)
    img += gaussian_filter(ribs, 0.4) * (0.04 * body + 0.07 * lung_any)
    for x, y, fx in fracture_sites:
        # The fracture line is sclerotic at low resolution: a bright knot at the step.
        knot = np.exp(-(((X - x) ** 2 + (Y - y) ** 2) / (0.022 + 0.004 * fx.level) ** 2))
        img += (0.25 if fx.uncertain else 0.42) * knot

    # Parenchymal and pleural findings.
    for fd in by_kind.get("edema", []):
        amp = {1: 0.13, 2: 0.19, 3: 0.26}[fd.level] * (0.6 if fd.uncertain else 1.0)
        for side in ("right", "left"):
            hx = 0.5 - 0.1 if side == "right" else 0.5 + 0.1
            haze = np.exp(-(((X - hx) / 0.11) ** 2 + ((Y - 0.48) / 0.14) ** 2))
            img += amp * haze * lungs[side]
        if fd.level >= 2 and not fd.uncertain:
            kerley, kd = _layer(size)
            for side in ("right", "left"):
                cx = f.lung_cx(side)
                edge_x = cx - a.lung_rx * 0.95 if side == "right" else cx + a.lung_rx * 0.95
                inward = 1 if side == "right" else -1
                for k in range(4):
                    y = (a.dome_right if side == "right" else a.dome_left) - 0.05 - k * 0.025
                    kd.line(_pts([(edge_x, y), (edge_x + inward * 0.045, y)], size), fill=1.0, width=1)
            img += 0.22 * np.asarray(kerley, dtype=np.float32) * lung_any
    for kind, amp, sig in (("consolidation", 0.40, 0.045), ("opacity", 0.20, 0.07)):
        for fd in by_kind.get(kind, []):
            # Blob shape from the finding itself (zlib, not hash(): str hashes vary per process).
            patch_rng = np.random.default_rng(
                zlib.crc32(f"{kind}|{fd.side}|{fd.zone}|{fd.dx:.4f}|{fd.dy:.4f}".encode())
            )
            for side in _sides(fd.side):
                cx = f.lung_cx(side) + fd.dx * (1 if side == "right" else -1)
                cy = a.lung_cy + ZONE_DY[fd.zone] + fd.dy
                s = sig * (0.7 + 0.3 * fd.level) * (0.75 if fd.uncertain else 1.0)
                blob = np.zeros_like(X)
                for _ in range(4):
                    ox, oy = patch_rng.uniform(-0.6, 0.6, size=2) * s
                    blob += np.exp(-(((X - cx - ox) / s) ** 2 + ((Y - cy - oy) / (s * 1.2)) ** 2))
                blob = np.clip(blob * 1.2, 0, 1)
                a_ = amp * (0.6 if fd.uncertain else 1.0)
                img += a_ * blob * lungs[side]
    for fd in by_kind.get("effusion", []):
        height = {1: 0.05, 2: 0.12, 3: 0.21}[fd.level] * (0.6 if fd.uncertain else 1.0)
        for side in _sides(fd.side):
            cx = f.lung_cx(side)
            lateral_t = np.clip((X - cx) / a.lung_rx * (-1 if side == "right" else 1), -1, 1)
            top = f.diaphragm_y(side) - height * (1.0 + 0.6 * (lateral_t + 1) / 2)
            fluid = _soft(top - Y, 0.012) * lungs[side]
            img = img * (1 - fluid) + (0.56 if not fd.uncertain else 0.45) * fluid
    for fd in by_kind.get("atelectasis", []):
        layer, d = _layer(size)
        for side in _sides(fd.side):
            cx = f.lung_cx(side) + fd.dx * (1 if side == "right" else -1)
            dome = a.dome_right if side == "right" else a.dome_left
            y = dome - 0.10 + fd.dy
            half = 0.05 + 0.015 * fd.level
            tilt = 0.015 if side == "right" else -0.015
            d.line(
                _pts([(cx - half, y - tilt), (cx + half, y + tilt)], size),
                fill=1.0,
                width=max(2, int(round(size * (0.018 + 0.006 * fd.level)))),
            )
        band = gaussian_filter(np.asarray(layer, dtype=np.float32), 0.5)
        img += (0.28 if fd.uncertain else 0.45) * band * lung_any
    for fd in by_kind.get("lesion", []):
        r = LESION_RADIUS[fd.level]
        for side in _sides(fd.side):
            cx = f.lung_cx(side) + fd.dx * (1 if side == "right" else -1)
            cy = a.lung_cy + ZONE_DY[fd.zone] + fd.dy
            spot = _soft(np.sqrt((X - cx) ** 2 + (Y - cy) ** 2) - r, 1.2 * f.edge)
            img += (0.25 if fd.uncertain else 0.42) * spot
    for fd in by_kind.get("pleural_thickening", []):
        for side in _sides(fd.side):
            r = f.lung_r(side)
            cap = _soft(0.86 - 0.03 * fd.level - r, 0.02) * _soft(Y - (a.lung_cy - 0.17), 0.02) * lungs[side]
            img += 0.28 * cap

    # Support devices: thin, very bright lines and the pacemaker box.
    dev, dd = _layer(size)
    wd = _line_width(size, 0.9)
    for fd in findings:
        if fd.kind == "ett":
            dd.line(_pts([(0.5, 0.0), (0.5, 0.24 + fd.dy)], size), fill=1.0, width=wd + 1)
        elif fd.kind == "ng_tube":
            pts = [(0.505, 0.0), (0.51, 0.35)] + _curve((0.51, 0.35), (0.52, 0.78), (0.66 + fd.dx, 0.80))
            dd.line(_pts(pts, size), fill=1.0, width=wd)
        elif fd.kind == "central_line":
            if fd.side == "left":
                pts = _curve((0.72, 0.10), (0.58, 0.16), (0.52, 0.34 + fd.dy))
            else:
                pts = _curve((0.36, 0.04), (0.43, 0.16), (0.47, 0.34 + fd.dy))
            dd.line(_pts(pts, size), fill=1.0, width=wd)
        elif fd.kind == "pacemaker":
            x0, y0 = 0.70 + fd.dx, 0.13
            dd.rectangle(_pts([(x0, y0), (x0 + 0.09, y0 + 0.055)], size), fill=1.0)
            lead = _curve((x0, y0 + 0.03), (0.52, 0.18), (0.50, 0.45)) + _curve(
                (0.50, 0.45), (0.50, 0.62), (0.56, 0.68)
            )
            dd.line(_pts(lead, size), fill=1.0, width=wd)
        elif fd.kind == "chest_tube":
            side = fd.side or "right"
            cx = f.lung_cx(side)
            sgn = -1 if side == "right" else 1
            pts = _curve(
                (cx + sgn * (a.lung_rx + 0.05), 0.70), (cx + sgn * a.lung_rx * 0.8, 0.40), (cx + sgn * 0.02, 0.22)
            )
            dd.line(_pts(pts, size), fill=1.0, width=wd + 1)
    devices = np.asarray(dev, dtype=np.float32)
    img = np.maximum(img, 0.95 * devices)
    return _finish(img, a, rng, size, unit)


# ---- lateral -----------------------------------------------------------------
def render_lateral(
    findings: Sequence[VisualFinding],
    size: int,
    anatomy: Anatomy,
    rng: np.random.Generator,
    heart_level: int = 0,
    unit: bool = False,
) -> np.ndarray:
    """Draw a lateral phantom (anterior on the left); returns a uint8 array (floats in [0, 1] with `unit`)."""
    X, Y = _grid(size)
    a = anatomy
    edge = 1.5 / size
    by_kind: dict[str, list[VisualFinding]] = {}
    for fd in findings:
        by_kind.setdefault(fd.kind, []).append(fd)
    img = np.full((size, size), 0.04, dtype=np.float32)
    body = _soft(_ellipse_r(X, Y, 0.5, 0.6, 0.40, 0.56) - 1.0, 0.02)
    img = np.maximum(img, 0.42 * body)
    diaphragm = a.dome_right - 0.02 + 0.10 * np.clip((X - 0.25) / 0.55, 0, 1) ** 2  # lowest posteriorly
    lung = _soft(_ellipse_r(X, Y, 0.53, a.lung_cy, 0.28, 0.30) - 1.0, edge / 0.28) * _soft(Y - diaphragm, edge)
    img = img * (1 - lung) + (0.20 + 0.03 * np.exp(-((X - 0.55) ** 2 + (Y - 0.45) ** 2) / 0.02)) * lung
    below = _soft(diaphragm - Y, edge) * body
    img = img * (1 - below) + 0.50 * below
    # Spine (vertebral bodies), sternum, trachea.
    spine, sd = _layer(size)
    for k in range(12):
        y0 = 0.06 + k * 0.075
        sd.rectangle(_pts([(0.76, y0), (0.86, y0 + 0.06)], size), fill=1.0)
    img = np.maximum(img, 0.62 * gaussian_filter(np.asarray(spine, dtype=np.float32), 0.6) * body)
    img += 0.15 * _soft(np.abs(X - (0.16 + 0.05 * Y)) - 0.01, edge) * (Y > 0.15) * (Y < 0.7)
    trachea = _soft(np.abs(X - (0.48 + 0.08 * Y)) - 0.02, edge) * _soft(Y - 0.33, 0.02)
    img = img * (1 - 0.5 * trachea) + 0.22 * 0.5 * trachea
    # Heart: anterior, growing backwards with cardiomegaly.
    level = max([fd.level for fd in by_kind.get("cardiomegaly", [])], default=heart_level)
    hrx = 0.13 * HEART_RX_BY_LEVEL[level] ** 0.8
    heart = _soft(_ellipse_r(X, Y, 0.24 + hrx, a.heart_cy, hrx, 0.13) - 1.0, 2.5 * edge / hrx)
    img = img * (1 - heart) + 0.58 * heart
    for fd in by_kind.get("edema", []):
        amp = {1: 0.08, 2: 0.14, 3: 0.2}[fd.level] * (0.6 if fd.uncertain else 1.0)
        img += amp * np.exp(-(((X - 0.52) / 0.13) ** 2 + ((Y - 0.47) / 0.15) ** 2)) * lung
    for kind, amp, sig in (("consolidation", 0.36, 0.05), ("opacity", 0.18, 0.075)):
        for fd in by_kind.get(kind, []):
            s = sig * (0.7 + 0.3 * fd.level) * (0.75 if fd.uncertain else 1.0)
            cy = a.lung_cy + ZONE_DY[fd.zone] + fd.dy
            cx = 0.55 + fd.dx
            img += amp * (0.6 if fd.uncertain else 1.0) * np.exp(-(((X - cx) / s) ** 2 + ((Y - cy) / s) ** 2)) * lung
    for fd in by_kind.get("atelectasis", []):
        y = a.dome_right - 0.05 + fd.dy
        band = np.exp(-(((Y - y - 0.08 * (X - 0.5)) / (0.008 + 0.004 * fd.level)) ** 2)) * (np.abs(X - 0.5) < 0.12)
        img += (0.18 if fd.uncertain else 0.28) * band * lung
    for fd in by_kind.get("effusion", []):
        height = {1: 0.05, 2: 0.11, 3: 0.19}[fd.level] * (0.6 if fd.uncertain else 1.0)
        if fd.side == "bilateral":
            height *= 1.2
        post = np.clip((X - 0.4) / 0.4, 0, 1)
        top = diaphragm - height * (0.3 + 1.2 * post)
        fluid = _soft(top - Y, 0.012) * lung
        img = img * (1 - fluid) + (0.54 if not fd.uncertain else 0.44) * fluid
    for fd in by_kind.get("lesion", []):
        r = LESION_RADIUS[fd.level]
        cy = a.lung_cy + ZONE_DY[fd.zone] + fd.dy
        cx = 0.58 + fd.dx
        img += (0.22 if fd.uncertain else 0.38) * _soft(np.sqrt((X - cx) ** 2 + (Y - cy) ** 2) - r, 1.2 * edge)
    dev, dd = _layer(size)
    wd = _line_width(size, 0.9)
    for fd in findings:
        if fd.kind == "ett":
            dd.line(_pts([(0.48, 0.0), (0.50, 0.24 + fd.dy)], size), fill=1.0, width=wd + 1)
        elif fd.kind == "ng_tube":
            dd.line(_pts([(0.52, 0.0), (0.56, 0.4), (0.50, 0.8)], size), fill=1.0, width=wd)
        elif fd.kind == "pacemaker":
            dd.rectangle(_pts([(0.14, 0.12), (0.19, 0.17)], size), fill=1.0)
            dd.line(_pts(_curve((0.17, 0.15), (0.40, 0.25), (0.30, 0.62)), size), fill=1.0, width=wd)
        elif fd.kind == "chest_tube":
            dd.line(_pts(_curve((0.70, 0.72), (0.65, 0.45), (0.50, 0.22)), size), fill=1.0, width=wd + 1)
    img = np.maximum(img, 0.95 * np.asarray(dev, dtype=np.float32))
    return _finish(img, a, rng, size, unit)


def _finish(img: np.ndarray, a: Anatomy, rng: np.random.Generator, size: int, unit: bool = False) -> np.ndarray:
    img = gaussian_filter(img, sigma=0.5)
    img = img * a.brightness + rng.normal(0.0, 0.012, size=img.shape).astype(np.float32)
    img = np.clip(img, 0.0, 1.0)
    # `unit`: the same phantom before 8-bit quantisation (16-bit PNG and DICOM output)
    return img if unit else (img * 255.0 + 0.5).astype(np.uint8)


IMAGE_FORMATS = ("jpeg", "png", "png16", "dicom")
IMAGE_SUFFIX = {"jpeg": ".jpg", "png": ".png", "png16": ".png", "dicom": ".dcm"}


def save_image(unit: np.ndarray, path, image_format: str, *, quality: int = 90, tags: dict | None = None) -> None:
    """Write a phantom (floats in [0, 1]) as jpeg / png (8-bit) / png16 / dicom (12-bit MONOCHROME2, windowed).

    jpeg and png hold exactly what the uint8 renderers return, so every format is a twin
    of the others (png16 and dicom to within one 8-bit level after rg4cli.images reads them).
    """
    from rg4cli.images import write_dicom, write_png16

    if image_format == "png16":
        write_png16(unit, path)
    elif image_format == "dicom":
        tags = dict(tags or {})
        uids = {k: tags.pop(k) for k in ("StudyInstanceUID", "SOPInstanceUID") if k in tags}
        # a full-range window, as a DX file carries one: the DICOM reads back as the 8-bit twin
        write_dicom(unit, path, uids=uids, view=tags.pop("ViewPosition", None), tags=tags, window=(0.5, 1.0))
    else:
        pixels = (np.clip(unit, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        if image_format == "png":
            Image.fromarray(pixels).save(path, format="PNG")
        else:
            save_jpeg(pixels, path, quality=quality)


def save_jpeg(pixels: np.ndarray, path, quality: int = 90) -> None:
    """Write a grayscale JPEG with fixed settings and no metadata (same bytes every time)."""
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(
        path, format="JPEG", quality=quality, optimize=False, progressive=False, subsampling=0
    )
