#!/usr/bin/env python3
"""Per-frame cost of `usdrender.Renderer.render` against the CLI's, on the bundled scene.

    pip install .                                   # the release wheel
    cargo build --release --ignore-rust-version     # the release CLI
    python benches/python_vs_cli.py [--cli target/release/usdrender] [--width 960] [--frames 48]

CLI, per frame: (wall time of `usdrender render --frames 1-N` - wall time of `--frames 1`) / (N - 1),
the median of --repeats runs of each: what one more frame costs once the process, the stage and
the adapter are up, with evaluation, rendering, readback, PNG encoding and writing pipelined as
`render` does them.
Python, per frame: a Renderer opened once and one frame rendered to warm it up, then frames 1..N
rendered one after the other (`render` returns each as a numpy array, so nothing overlaps);
total / N, the median of --repeats runs.
Prints both and their ratio (Python / CLI); --json writes them to a file (benches/results/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import usdrender

ROOT = Path(__file__).resolve().parents[1]


def cli_seconds(cli: Path, stage: Path, width: int, frames: str, out: Path) -> float:
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    cmd = [str(cli), "-q", "render", str(stage), "-w", str(width), "--frames", frames,
           "-o", str(out / "f.####.png"), "--overwrite"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", type=Path, default=ROOT / "target" / "release" / "usdrender")
    ap.add_argument("--stage", type=Path, default=ROOT / "scenes" / "default.usda")
    ap.add_argument("--width", type=int, default=960)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    n = args.frames

    cli_per_frame = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for _ in range(args.repeats):
            one = cli_seconds(args.cli, args.stage, args.width, "1", out)
            many = cli_seconds(args.cli, args.stage, args.width, f"1-{n}", out)
            cli_per_frame.append((many - one) / (n - 1))

    py_per_frame = []
    r = usdrender.Renderer(args.stage, width=args.width)
    r.render(1)
    for _ in range(args.repeats):
        start = time.perf_counter()
        for f in range(1, n + 1):
            r.render(f)
        py_per_frame.append((time.perf_counter() - start) / n)

    cli_ms = statistics.median(cli_per_frame) * 1e3
    py_ms = statistics.median(py_per_frame) * 1e3
    result = {
        "stage": str(args.stage.relative_to(ROOT) if args.stage.is_relative_to(ROOT) else args.stage),
        "size": [r.width, r.height],
        "frames": n,
        "repeats": args.repeats,
        "adapter": r.adapter,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "cli_ms_per_frame": round(cli_ms, 2),
        "python_ms_per_frame": round(py_ms, 2),
        "ratio": round(py_ms / cli_ms, 3),
        "cli_runs_ms": [round(x * 1e3, 2) for x in cli_per_frame],
        "python_runs_ms": [round(x * 1e3, 2) for x in py_per_frame],
    }
    print(f"{result['stage']} at {r.width}x{r.height}, {n} frames, {r.adapter}")
    print(f"  CLI     {cli_ms:8.2f} ms/frame  (runs: {result['cli_runs_ms']})")
    print(f"  Python  {py_ms:8.2f} ms/frame  (runs: {result['python_runs_ms']})")
    print(f"  ratio   {py_ms / cli_ms:8.3f}  (Python / CLI; the target is <= 1.10)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
