# Type stubs of the usdrender package (the extension module usdrender._native, re-exported).
# Keep in sync with python/src/lib.rs, where the docstrings live.
import os
from typing import Callable, Literal, Mapping, Sequence, TypedDict, Union, overload

import numpy as np
import numpy.typing as npt

__version__: str

StrPath = Union[str, os.PathLike[str]]
AdapterSpec = Union[int, str, Sequence[Union[int, str]], None]
FrameSpec = Union[str, float, Sequence[float], None]
AovName = Literal["depth", "normal", "primId", "instanceId"]

class Error(Exception):
    """Base class of every usdrender error."""

class StageError(Error):
    """The stage cannot be opened or read: missing file, bad layer, timing, camera, prim."""

class AdapterError(Error):
    """No GPU adapter was found, or the one in use failed."""

class OutputError(Error):
    """An image could not be written or read: folder, file, pattern, encoding."""

class OptionError(Error):
    """An argument is out of range or unknown (width, frames, AOV name, threshold...)."""

class FrameError(Error):
    """Some frames of a sequence failed (the others were written)."""

    report: "SequenceReport"

class RenderedFrame(TypedDict):
    frame: float
    path: str
    adapter: str
    ms: float

class FailedFrame(TypedDict):
    frame: float
    path: str
    adapter: str
    error: str

class SequenceReport(TypedDict):
    rendered: list[RenderedFrame]
    failed: list[FailedFrame]
    skipped: list[float]
    width: int
    height: int
    seconds: float
    per_adapter: dict[str, int]
    warnings: list[str]
    interrupted: bool

class AdapterInfo(TypedDict):
    index: int
    name: str
    backend: str
    device_type: str
    driver: str
    pci_bus_id: str
    vendor: int
    device: int

# The look and stage options (**look): as `usdrender render`'s flags of the same names.
#   headlight: "auto" | "on" | "off"
#   clear_color: (R, G, B, A), linear
#   color_correction: "sRGB" | "disabled"
#   enable_dome_light_visibility: bool
#   purposes: str | Sequence[str]            ("render", "proxy", "guide")
#   complexity: "low" | "medium" | "high" | "veryhigh"
#   motion_blur: bool; motion_samples: int (default 8); shutter: (open, close), time codes
#   shading_pass: "auto" | "compute" | "forward"
#   session_layer: str | os.PathLike
#   max_memory: int (bytes)
#   include_cpu, all_backends: bool

def render_frame(
    stage: StrPath,
    frame: float | None = None,
    width: int = 960,
    height: int | None = None,
    camera: str | None = None,
    adapters: AdapterSpec = None,
    **look: object,
) -> npt.NDArray[np.uint8]:
    """One frame as a (height, width, 4) uint8 array, sRGB, straight alpha: the CLI's PNG pixels."""

class Renderer:
    """A stage and a GPU adapter opened once, to render many frames into memory or to files."""

    def __init__(
        self,
        stage: StrPath,
        adapters: AdapterSpec = None,
        width: int = 960,
        height: int | None = None,
        camera: str | None = None,
        frames: FrameSpec = None,
        **look: object,
    ) -> None: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def frames(self) -> list[float]: ...
    @property
    def adapter(self) -> str: ...
    @property
    def warnings(self) -> list[str]: ...
    @overload
    def render(
        self,
        frame: float | None = None,
        aovs: Sequence[AovName] = (),
        dtype: Literal["uint8"] = "uint8",
    ) -> tuple[npt.NDArray[np.uint8], dict[str, np.ndarray]]: ...
    @overload
    def render(
        self,
        frame: float | None = None,
        aovs: Sequence[AovName] = (),
        *,
        dtype: Literal["float32"],
    ) -> tuple[npt.NDArray[np.float32], dict[str, np.ndarray]]:
        """(image, {aov name: array}); uint8 sRGB, or float32 linear RGBA with dtype="float32"."""
    def render_sequence(
        self,
        output: StrPath,
        frames: FrameSpec = None,
        skip_existing: bool = False,
        overwrite: bool = False,
        on_frame: Callable[[float, str, float], object] | None = None,
        aovs: Sequence[AovName] = (),
    ) -> SequenceReport:
        """Frames to files through the CLI's multi-adapter pipeline; on_frame(frame, path, ms)."""
    def info(self) -> dict[str, object]:
        """What `usdrender info --json` prints, as a dict."""

def compare(
    actual: StrPath,
    expected: StrPath,
    diff_dir: StrPath | None = None,
    strict: bool = False,
    **thresholds: float | None,
) -> dict[str, object]:
    """The report `usdrender compare ACTUAL EXPECTED --json` writes, as a dict."""

def write_png(path: StrPath, image: npt.NDArray[np.uint8]) -> None:
    """Writes a (height, width, 4) uint8 array to a PNG file, atomically."""

def adapters(all_backends: bool = False) -> list[AdapterInfo]:
    """The GPU adapters usdrender sees, as `usdrender adapters` lists them."""
