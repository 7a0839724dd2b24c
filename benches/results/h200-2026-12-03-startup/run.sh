#!/usr/bin/env bash
# Issue 12's whole-process target: teapotScene 0-480 at 1920x1080 to PNG, "base" (f2f7d5c) against
# "new" (devices opened while the stage loads; the draw walk asks prims whether they are loaded
# only on a stage opened with payloads unloaded). Three alternating rounds; render-only fps from
# `bench` in the same call; the bundled scene and the teapot field's whole process as a check.
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
for b in base new; do gzip -dkf usdrender-$b.gz; chmod +x usdrender-$b; done
R=/tmp/startup; mkdir -p $R
nproc > $R/machine.txt; nvidia-smi -L >> $R/machine.txt 2>&1
C=corpus; T=$C/usd-wg/intent-vfx/scenes/teapotScene.usd; F=$C/perf-wrappers/teapot_field_40x40_refs.usda; D=../scenes/default.usda
# The first process on a fresh machine pays the driver's shader compilation: not counted.
./usdrender-new -q render $T --frames 0-3 --width 1920 --height 1080 -o /tmp/warm/f.####.png > /dev/null 2>&1
for b in base new; do ./usdrender-$b -q bench $T --frames 0-480 --count 240 --json $R/bench_teapotScene_$b.json > $R/bench_teapotScene_$b.txt 2>&1; done
for round in 1 2 3 4; do
  for b in base new; do
    rm -rf /tmp/out_$b
    start=$(date -u +%H:%M:%S.%N | cut -c1-12)
    /usr/bin/time -f "$b round $round wall_s %e peak_kb %M cpu %P" env RUST_LOG=info ./usdrender-$b render $T --frames 0-480 --width 1920 --height 1080 -o /tmp/out_$b/f.####.png > $R/render_${b}_$round.log 2>&1
    L=$R/render_${b}_$round.log
    echo "$(tail -1 $L) | start $start camera $(grep -m1 'camera:' $L | cut -c13-24) adapter $(grep -m1 'adapter .*backend' $L | cut -c13-24) ready $(grep -m1 'ready on' $L | cut -c13-24) first $(grep -m1 'frame [0-9]* on' $L | cut -c13-24) last $(grep 'frame [0-9]* on' $L | tail -1 | cut -c13-24) files $(ls /tmp/out_$b | wc -l)" >> $R/render_teapotScene.txt
    for s in field default; do
      S=$F; [ $s = default ] && S=$D
      rm -rf /tmp/o2_$b
      /usr/bin/time -a -o $R/render_$s.txt -f "$b round $round wall_s %e peak_kb %M" ./usdrender-$b -q render $S --frames 1-120 --width 1920 --height 1080 -o /tmp/o2_$b/f.####.png > /dev/null 2>&1
    done
  done
done
gzip -f $R/render_*.log
cd /tmp && tar czf $OUT/startup.tar.gz startup && cat startup/render_teapotScene.txt startup/render_field.txt startup/render_default.txt
for f in startup/bench_*.txt; do echo "== $f"; grep -E "alone|at 1920" $f | sed 's/ at 1920x1080.*load/ load/'; done
