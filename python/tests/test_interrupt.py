"""Ctrl-C during render_sequence: the frames in flight are finished and written, no temporary
file is left, and KeyboardInterrupt reaches the caller (as the CLI's first SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from conftest import DEFAULT_STAGE, read_png

SCRIPT = textwrap.dedent(
    """
    import sys, usdrender
    r = usdrender.Renderer(sys.argv[1], width=64)
    def on_frame(frame, path, ms):
        print("frame", frame, flush=True)
    try:
        r.render_sequence(sys.argv[2], frames="1-200", on_frame=on_frame)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    print("finished", flush=True)
    """
)


def test_sigint_during_render_sequence_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(DEFAULT_STAGE), str(out / "f.####.png")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        first = child.stdout.readline()
        assert first.startswith("frame"), first + child.stderr.read()
        child.send_signal(signal.SIGINT)
        rest, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, f"exit {child.returncode}: {rest} {err}"
    assert rest.strip().endswith("interrupted")
    written = sorted(out.glob("f.*.png"))
    assert 1 <= len(written) < 200
    for png in written:
        assert read_png(png).shape == (36, 64, 4)
    leftovers = [p.name for p in out.iterdir() if not p.name.endswith(".png") or p.name.startswith(".")]
    assert leftovers == []
