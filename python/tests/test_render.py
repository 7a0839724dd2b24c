"""The Python API against the CLI: same pixels, same messages, same info; AOVs; errors; the
GIL released while rendering; render_sequence's files and callbacks."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import usdrender
from conftest import read_png, run_cli


def test_render_frame_shape_and_dtype(default_stage):
    image = usdrender.render_frame(str(default_stage), frame=24, width=320)
    assert image.shape == (180, 320, 4)
    assert image.dtype == np.uint8
    assert image.flags.writeable and image.flags.c_contiguous
    alpha = image[..., 3]
    # The default scene covers part of the frame over a transparent background.
    assert 0 < np.count_nonzero(alpha == 255) < alpha.size
    assert np.count_nonzero(alpha == 0) > 0


def test_render_frame_equals_the_cli_png(default_stage, tmp_path):
    run_cli("render", str(default_stage), "--frames", "24", "-w", "320", "-o", str(tmp_path / "f.####.png"))
    cli = read_png(tmp_path / "f.0024.png")
    ours = usdrender.render_frame(default_stage, frame=24, width=320)
    assert ours.shape == cli.shape
    diff = np.abs(ours.astype(int) - cli.astype(int)).max()
    assert diff <= 2, f"max difference {diff}/255"


def test_renderer_render_matches_render_frame_and_gives_linear_floats(default_stage):
    r = usdrender.Renderer(default_stage, width=320)
    assert (r.width, r.height) == (320, 180)
    assert r.frames[0] == 1 and len(r.frames) > 1
    image, aovs = r.render(24)
    assert aovs == {}
    one = usdrender.render_frame(default_stage, frame=24, width=320)
    assert np.abs(image.astype(int) - one.astype(int)).max() <= 2
    linear, _ = r.render(24, dtype="float32")
    assert linear.dtype == np.float32 and linear.shape == (180, 320, 4)
    # The sRGB encoding of the linear image is the 8-bit image, to a level or two.
    c = np.clip(linear[..., :3], 0, 1)
    srgb = np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)
    covered = image[..., 3] == 255
    err = np.abs(np.round(srgb * 255) - image[..., :3])[covered]
    assert err.max() <= 3, err.max()
    # Alpha too, to a level (the linear target is half float).
    assert np.abs(np.round(linear[..., 3] * 255) - image[..., 3]).max() <= 1


def test_aovs(default_stage):
    r = usdrender.Renderer(default_stage, width=160, frames="24")
    image, aovs = r.render(24, aovs=("depth", "normal", "primId", "instanceId"))
    h, w = r.height, r.width
    assert set(aovs) == {"depth", "normal", "primId", "instanceId"}
    assert aovs["depth"].shape == (h, w) and aovs["depth"].dtype == np.float32
    assert aovs["normal"].shape == (h, w, 3) and aovs["normal"].dtype == np.float32
    assert aovs["primId"].shape == (h, w) and aovs["primId"].dtype == np.uint32
    assert aovs["instanceId"].shape == (h, w) and aovs["instanceId"].dtype == np.uint32
    covered = image[..., 3] == 255
    depth = aovs["depth"][covered]
    assert np.all(np.isfinite(depth)) and np.all(depth > 0)
    lengths = np.linalg.norm(aovs["normal"][covered], axis=-1)
    assert np.allclose(lengths, 1, atol=1e-2)
    # Several prims are drawn, and ids tell them apart.
    assert len(np.unique(aovs["primId"][covered])) > 1
    # Case-insensitive names, as the CLI's --aov; unknown ones are an OptionError.
    _, again = r.render(24, aovs=["primid"])
    assert np.array_equal(again["primId"], aovs["primId"])
    with pytest.raises(usdrender.OptionError, match="bogus"):
        r.render(24, aovs=["bogus"])


def test_a_bad_stage_raises_stage_error_with_the_cli_message(tmp_path):
    missing = tmp_path / "missing.usda"
    with pytest.raises(usdrender.StageError) as caught:
        usdrender.render_frame(missing, width=64)
    cli = run_cli("render", str(missing), "-o", str(tmp_path / "f.####.png"), check=False)
    assert cli.returncode == 2
    assert f"error: {caught.value}" in cli.stderr
    broken = tmp_path / "broken.usda"
    broken.write_text("#usda 1.0\ndef Xform \"A\" {\n")
    with pytest.raises(usdrender.StageError):
        usdrender.Renderer(broken, width=64)
    assert issubclass(usdrender.StageError, usdrender.Error)


def test_bad_options(default_stage):
    with pytest.raises(usdrender.OptionError, match="--width"):
        usdrender.render_frame(default_stage, width=0)
    with pytest.raises(TypeError, match="no_such_option"):
        usdrender.render_frame(default_stage, no_such_option=1)
    with pytest.raises(usdrender.OptionError, match="headlight"):
        usdrender.render_frame(default_stage, headlight="sometimes")
    with pytest.raises(usdrender.OptionError):
        usdrender.Renderer(default_stage, frames="1-")


def test_look_options_change_the_image(default_stage):
    plain = usdrender.render_frame(default_stage, frame=24, width=96)
    orange = usdrender.render_frame(default_stage, frame=24, width=96, clear_color=(1, 0.5, 0, 1))
    background = plain[..., 3] == 0
    assert np.all(orange[background][:, 3] == 255)
    assert np.all(orange[background][:, 0] == 255)


def test_info_is_the_cli_info(default_stage):
    ours = usdrender.Renderer(default_stage, width=64).info()
    cli = json.loads(run_cli("info", "--json", str(default_stage)).stdout)
    assert ours == cli


def test_the_gil_is_released_while_rendering(default_stage):
    """A Python thread keeps running while another renders."""
    ticks = 0
    done = threading.Event()

    def count():
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    counter = threading.Thread(target=count)
    r = usdrender.Renderer(default_stage, width=320)
    counter.start()
    before = ticks
    try:
        r.render(24)
        r.render(12)
        during = ticks - before
    finally:
        done.set()
        counter.join()
    # With the GIL held for the whole render, the counter would get only its switch intervals.
    assert during > 100_000, during


def test_render_sequence_writes_files_and_calls_on_frame(default_stage, tmp_path):
    r = usdrender.Renderer(default_stage, width=96)
    seen = []
    pattern = tmp_path / "seq" / "f.####.png"
    report = r.render_sequence(pattern, frames="1-3", on_frame=lambda f, p, ms: seen.append((f, p, ms)))
    assert sorted(f for f, _, _ in seen) == [1, 2, 3]
    assert all(ms > 0 for _, _, ms in seen)
    for f, p, _ in seen:
        assert p == str(tmp_path / "seq" / f"f.{int(f):04d}.png")
        png = read_png(p)
        assert png.shape == (54, 96, 4)
    assert sorted(x["frame"] for x in report["rendered"]) == [1, 2, 3]
    assert report["failed"] == [] and report["width"] == 96 and report["height"] == 54
    # Existing outputs are refused as the CLI refuses them, then skipped or replaced on request.
    with pytest.raises(usdrender.OptionError, match="already exist"):
        r.render_sequence(pattern, frames="1-3")
    again = r.render_sequence(pattern, frames="1-4", skip_existing=True)
    assert again["skipped"] == [1, 2, 3] and [x["frame"] for x in again["rendered"]] == [4]
    # The CLI writes the same pixels.
    run_cli("render", str(default_stage), "--frames", "2", "-w", "96", "-o", str(tmp_path / "cli.####.png"))
    a, b = read_png(tmp_path / "cli.0002.png"), read_png(tmp_path / "seq" / "f.0002.png")
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 2


def test_an_exception_in_on_frame_stops_the_sequence(default_stage, tmp_path):
    r = usdrender.Renderer(default_stage, width=64)

    def boom(frame, path, ms):
        raise RuntimeError(f"stop at {frame}")

    with pytest.raises(RuntimeError, match="stop at"):
        r.render_sequence(tmp_path / "f.####.png", frames="1-40", on_frame=boom)
    written = sorted(tmp_path.glob("f.*.png"))
    assert 1 <= len(written) < 40
    assert not list(tmp_path.glob(".*usdrender-tmp"))


def test_compare_gives_the_cli_report(default_stage, tmp_path):
    image = usdrender.render_frame(default_stage, frame=24, width=96)
    usdrender.write_png(tmp_path / "a.png", image)
    changed = image.copy()
    changed[10:20, 10:20, :3] = 255 - changed[10:20, 10:20, :3]
    changed[10:20, 10:20, 3] = 255
    usdrender.write_png(tmp_path / "b.png", changed)
    same = usdrender.compare(tmp_path / "a.png", tmp_path / "a.png")
    assert same["summary"]["verdict"] == "pass" and same["frames"][0]["metrics"]["max_diff"] == 0
    report = usdrender.compare(tmp_path / "b.png", tmp_path / "a.png", flip_fail=0.001, diff_dir=tmp_path / "d")
    cli = run_cli(
        "compare", str(tmp_path / "b.png"), str(tmp_path / "a.png"), "--flip-fail", "0.001",
        "--diff-dir", str(tmp_path / "d"), "--json", str(tmp_path / "r.json"), check=False,
    )
    assert cli.returncode == 1
    expected = json.loads((tmp_path / "r.json").read_text())
    for r in (report, expected):
        r.pop("seconds")
        for f in r["frames"]:
            f.pop("seconds")
    assert report == expected
    assert report["summary"]["verdict"] == "fail"
    assert (tmp_path / "d" / "b.diff.png").exists()
    with pytest.raises(TypeError, match="bogus"):
        usdrender.compare(tmp_path / "a.png", tmp_path / "a.png", bogus=1)
    with pytest.raises(usdrender.OptionError, match="flip-fail"):
        usdrender.compare(tmp_path / "a.png", tmp_path / "a.png", flip_fail=2)
