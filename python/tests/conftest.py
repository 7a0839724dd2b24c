"""Shared helpers of the Python tests: the repository's paths, the CLI binary, a PNG reader
independent of usdrender (zlib and the PNG filters, so a round trip through our own writer
cannot hide a difference)."""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

# pytester runs the plugin tests in scratch folders.
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STAGE = ROOT / "scenes" / "default.usda"


def cli_binary() -> Path:
    """The `usdrender` CLI: $USDRENDER_BIN, else the newest of target/{debug,release}/usdrender.
    None built is a failure, not a skip: the equality tests are the point."""
    env = os.environ.get("USDRENDER_BIN")
    if env:
        return Path(env)
    built = [ROOT / "target" / p / "usdrender" for p in ("debug", "release")]
    built = [p for p in built if p.exists()]
    if not built:
        pytest.fail("no usdrender binary: run `cargo build --ignore-rust-version` or set USDRENDER_BIN")
    return max(built, key=lambda p: p.stat().st_mtime)


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    done = subprocess.run([str(cli_binary()), "-q", *args], capture_output=True, text=True, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"usdrender {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done


def read_png(path: Path) -> np.ndarray:
    """An 8-bit RGBA, non-interlaced PNG (what the CLI writes) as a (height, width, 4) array."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = header
    assert (depth, colour, interlace) == (8, 6, 0), f"{path}: not 8-bit RGBA non-interlaced"
    raw = zlib.decompress(idat)
    stride, bpp = width * 4, 4
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, dtype=np.int32)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) & 0xFF
        else:  # Sub, Average, Paeth depend on the pixel to the left: byte by byte.
            for x in range(stride):
                a = cur[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                if f == 1:
                    p = a
                elif f == 3:
                    p = (a + b) // 2
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (line[x] + p) & 0xFF
        out[y] = cur
        prev = cur
    return out.reshape(height, width, 4)


@pytest.fixture(scope="session")
def default_stage() -> Path:
    return DEFAULT_STAGE
