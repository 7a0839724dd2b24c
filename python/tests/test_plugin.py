"""The pytest plugin, run in scratch folders by pytester: a missing reference fails (and writes
nothing), --usdrender-update writes references, the same image passes, a changed one fails with
the FLIP and idiff figures and a heat map."""

from __future__ import annotations

from pathlib import Path

from conftest import DEFAULT_STAGE

TEST = f"""
def test_shot(usd_image_regression):
    usd_image_regression.check({str(DEFAULT_STAGE)!r}, frame=24, width=96, flip=0.05)
"""


def test_a_missing_reference_fails_and_is_not_written(pytester):
    pytester.makepyfile(test_scene=TEST)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no reference image*test_shot.png*--usdrender-update*"])
    assert not (pytester.path / "test_shot.png").exists()


def test_update_writes_references_then_the_same_image_passes(pytester):
    pytester.makepyfile(test_scene=TEST)
    result = pytester.runpytest_subprocess("--usdrender-update")
    result.assert_outcomes(passed=1)
    reference = pytester.path / "test_shot.png"
    assert reference.exists() and reference.stat().st_size > 0
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_a_changed_image_fails_with_figures_and_a_heat_map(pytester):
    import usdrender

    pytester.makepyfile(test_scene=TEST)
    # The reference shows another frame: the scene has moved since.
    other = usdrender.render_frame(DEFAULT_STAGE, frame=1, width=96)
    usdrender.write_png(pytester.path / "test_shot.png", other)
    out = pytester.path / "renders"
    result = pytester.runpytest_subprocess(f"--usdrender-output={out}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_shot differs from its reference*",
            "*FLIP mean * (limit 0.05)*",
            "*idiff: max difference */255*",
            "*heat map: *test_shot.diff.png*",
        ]
    )
    heat_maps = list(Path(out).rglob("test_shot.diff.png"))
    assert len(heat_maps) == 1 and heat_maps[0].stat().st_size > 0
    assert list(Path(out).rglob("test_shot.png"))
