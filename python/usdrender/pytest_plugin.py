"""pytest plugin: image regression tests of USD stages in a line.

    def test_turntable(usd_image_regression):
        usd_image_regression.check("turntable.usda", frame=12, width=320, flip=0.05)

renders frame 12 of ``turntable.usda`` (a relative path is taken from the test file's folder)
and compares it with the reference ``<test file's folder>/test_turntable.png`` by FLIP. The test
fails when the FLIP mean is over ``flip``; the failure names the FLIP and idiff figures and the
heat map written beside the rendered image (in the test's ``tmp_path``, or under
``--usdrender-output DIR``). A missing reference fails too: references are written only by
``pytest --usdrender-update`` (which replaces existing ones as well), never silently.

Registered through the ``pytest11`` entry point of the usdrender package; usdrender itself is
imported only when a check runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, Optional

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("usdrender", "USD image regression (usdrender)")
    group.addoption(
        "--usdrender-update",
        action="store_true",
        default=False,
        help="write the reference images of usd_image_regression checks from this run's renders "
        "(new ones and changed ones) instead of comparing with them",
    )
    group.addoption(
        "--usdrender-output",
        default=None,
        metavar="DIR",
        help="folder for the images the checks render and their heat maps, one subfolder per "
        "test (default: each test's tmp_path)",
    )


def _safe_name(text: str) -> str:
    """A file name from a test name: `test_x[a-1]` -> `test_x_a-1`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "image"


class UsdImageRegression:
    """The ``usd_image_regression`` fixture: ``check()`` renders a stage and compares it with a
    reference image kept beside the test."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._update: bool = request.config.getoption("usdrender_update")
        self._checks = 0
        self.test_dir = Path(str(request.node.fspath)).parent
        output = request.config.getoption("usdrender_output")
        if output:
            self.output_dir = Path(output) / _safe_name(request.node.nodeid)
        else:
            self.output_dir = Path(request.getfixturevalue("tmp_path"))

    def check(
        self,
        stage: "str | os.PathLike[str]",
        frame: float = 1,
        width: int = 320,
        flip: float = 0.05,
        *,
        name: Optional[str] = None,
        height: Optional[int] = None,
        camera: Optional[str] = None,
        thresholds: Optional[Dict[str, Any]] = None,
        **look: Any,
    ) -> Dict[str, Any]:
        """Renders `frame` of `stage` at `width` and compares it with `<test dir>/<name>.png`.

        name: the reference's name; default: the test's name (with `_2`, `_3`... for further
            checks in the same test).
        flip: largest FLIP mean (0..1) that passes.
        thresholds: further `usdrender.compare` thresholds (fail, failpercent, hardfail,
            iou_fail...); by default only FLIP decides.
        height, camera, **look: as for `usdrender.render_frame`.

        Returns the compared frame's entry of the compare report (metrics, verdict), or None
        under --usdrender-update.
        """
        import usdrender

        self._checks += 1
        if name is None:
            name = _safe_name(self._request.node.name)
            if self._checks > 1:
                name = f"{name}_{self._checks}"
        stage_path = Path(stage)
        if not stage_path.is_absolute():
            stage_path = self.test_dir / stage_path
        reference = self.test_dir / f"{name}.png"
        actual = self.output_dir / f"{name}.png"

        image = usdrender.render_frame(
            stage_path, frame=frame, width=width, height=height, camera=camera, **look
        )
        usdrender.write_png(actual, image)
        if self._update:
            usdrender.write_png(reference, image)
            return None
        if not reference.exists():
            pytest.fail(
                f"usd_image_regression: no reference image {reference}. This render is "
                f"{actual}; run pytest with --usdrender-update to make it the reference, "
                f"look at it, and commit it.",
                pytrace=False,
            )
        # FLIP decides; the warn threshold (never reached at 100%) only counts the pixels off by
        # more than 0.1 for the message.
        limits: Dict[str, Any] = {"fail": 1.0, "warn": 0.1, "warnpercent": 100.0, "flip_fail": flip}
        limits.update(thresholds or {})
        report = usdrender.compare(actual, reference, diff_dir=self.output_dir, **limits)
        result = report["frames"][0]
        if result["verdict"] in ("pass", "warn"):
            return result
        pytest.fail(self._failure(name, result, reference, actual, flip, limits), pytrace=False)

    @staticmethod
    def _failure(
        name: str, result: Dict[str, Any], reference: Path, actual: Path, flip: float, limits: Dict[str, Any]
    ) -> str:
        lines = [f"usd_image_regression: {name} differs from its reference {reference}"]
        m = result.get("metrics")
        if m:
            psnr = "inf" if m["psnr"] is None else f"{m['psnr']:.2f} dB"
            lines.append(
                f"  FLIP mean {m['flip_mean']:.4f} (limit {flip}), p95 {m['flip_p95']:.4f}, "
                f"p99 {m['flip_p99']:.4f}, max {m['flip_max']:.4f}"
            )
            lines.append(
                f"  idiff: max difference {m['max_diff']}/255, mean {m['mean_diff']:.3f}/255, "
                f"{m['percent_over_warn']:.3f}% of pixels off by more than {limits['warn']}, "
                f"PSNR {psnr}, alpha IoU {m['alpha_iou']:.4f}"
            )
            if limits["fail"] < 1.0:
                lines.append(f"  {m['percent_over_fail']:.3f}% of pixels off by more than {limits['fail']}")
        for reason in result.get("reasons", []):
            lines.append(f"  {reason}")
        lines.append(f"  rendered: {actual}")
        if result.get("diff_image"):
            lines.append(f"  heat map: {result['diff_image']}")
        lines.append("  (pytest --usdrender-update makes this render the reference)")
        return "\n".join(lines)


@pytest.fixture
def usd_image_regression(request: pytest.FixtureRequest) -> UsdImageRegression:
    """Renders USD stages and compares them with reference images beside the test; see
    usdrender.pytest_plugin."""
    return UsdImageRegression(request)
