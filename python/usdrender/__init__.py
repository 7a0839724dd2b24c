"""usdrender: a headless, multi-GPU offline renderer for OpenUSD stages, from Python.

    import usdrender
    image = usdrender.render_frame("scenes/default.usda", frame=24, width=320)
    image.shape  # (180, 320, 4), uint8, sRGB, straight alpha: the pixels the CLI writes

    r = usdrender.Renderer("scenes/default.usda", width=320)   # stage and GPU opened once
    image, aovs = r.render(12, aovs=("depth",), dtype="float32")
    r.render_sequence("out/shot.####.png", on_frame=lambda f, path, ms: print(f, path, ms))
    r.info()                                                   # `usdrender info --json`

    usdrender.compare("out/shot.####.png", "refs/", flip_fail=0.05)  # `usdrender compare --json`

Errors are usdrender.Error subclasses (StageError, AdapterError, OutputError, OptionError,
FrameError) carrying the CLI's messages. The GIL is released while frames render.
The pytest plugin (fixture ``usd_image_regression``) is in usdrender.pytest_plugin.
"""

from ._native import (
    AdapterError,
    Error,
    FrameError,
    OptionError,
    OutputError,
    Renderer,
    StageError,
    __version__,
    adapters,
    compare,
    render_frame,
    write_png,
)

__all__ = [
    "AdapterError",
    "Error",
    "FrameError",
    "OptionError",
    "OutputError",
    "Renderer",
    "StageError",
    "__version__",
    "adapters",
    "compare",
    "render_frame",
    "write_png",
]
