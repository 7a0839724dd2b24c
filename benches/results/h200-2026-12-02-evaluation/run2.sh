#!/usr/bin/env bash
# Where a whole-process render of teapotScene 0-480 spends its time: info log with timestamps.
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun; gzip -dkf usdrender-after.gz; chmod +x usdrender-after
T=corpus/usd-wg/intent-vfx/scenes/teapotScene.usd
for i in 1 2; do
  rm -rf /tmp/o
  /usr/bin/time -f "wall_s %e peak_kb %M cpu %P" env RUST_LOG=info ./usdrender-after render $T --frames 0-480 --width 1920 --height 1080 -o /tmp/o/f.####.png --json > $OUT/render$i.jsonl 2> $OUT/render$i.log
  tail -3 $OUT/render$i.log
done
grep -n "camera:\|frames to render\|ready on\|frame 0 on\|frame 1 on\|frame 480 on" $OUT/render2.log | head
head -3 $OUT/render2.jsonl; tail -2 $OUT/render2.jsonl
