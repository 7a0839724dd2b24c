#!/usr/bin/env bash
# After this session's merges (gpu/ split into files, draw modes, data window, Embree framing,
# skeleton framing, Python package, projective matrices, animated point widths): the binary of the
# last landed commit (3e99d81, "before") against this one ("after"), same call, same machine.
# Issue 12's figures: teapotScene 0-480 whole-process renders (wall, peak memory, first-to-last
# frame rate from the log), evaluation alone on 16 cores, and bench of four scenes.
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
for b in before after; do gzip -dkf usdrender-$b.gz; chmod +x usdrender-$b; done
R=/tmp/merged; mkdir -p $R
nproc > $R/machine.txt; nvidia-smi -L >> $R/machine.txt 2>&1
C=corpus; T=$C/usd-wg/intent-vfx/scenes/teapotScene.usd; F=$C/perf-wrappers/teapot_field_40x40_refs.usda
V=$C/perf-wrappers/vehicles_pointinstancer_10k_anim.usdc; D=../scenes/default.usda
./usdrender-after -q bench $T --evaluate-only --frames 0-480 --count 481 --json $R/eval_teapotScene.json > $R/eval_teapotScene.txt 2>&1
for round in 1 2; do
  for b in before after; do
    rm -rf /tmp/out_$b
    /usr/bin/time -f "$b round $round wall_s %e peak_kb %M cpu %P" env RUST_LOG=info ./usdrender-$b render $T --frames 0-480 --width 1920 --height 1080 -o /tmp/out_$b/f.####.png > $R/render_${b}_$round.log 2>&1
    tail -1 $R/render_${b}_$round.log >> $R/render_teapotScene.txt
    echo "$b files $(ls /tmp/out_$b | wc -l) first $(grep -m1 'frame [0-9]* on' $R/render_${b}_$round.log | cut -c2-24) last $(grep 'frame [0-9]* on' $R/render_${b}_$round.log | tail -1 | cut -c2-24)" >> $R/render_teapotScene.txt
  done
done
for b in before after; do
  ./usdrender-$b -q bench $T --frames 0-480 --count 240 --json $R/bench_teapotScene_$b.json > $R/bench_teapotScene_$b.txt 2>&1
  ./usdrender-$b -q bench $F --count 200 --json $R/bench_field_$b.json > $R/bench_field_$b.txt 2>&1
  ./usdrender-$b -q bench $D --count 200 --json $R/bench_default_$b.json > $R/bench_default_$b.txt 2>&1
  ./usdrender-$b -q bench $V --count 48 --warmup 4 --json $R/bench_vehicles_$b.json > $R/bench_vehicles_$b.txt 2>&1
done
gzip -f $R/render_*.log
cd /tmp && tar czf $OUT/merged.tar.gz merged && cat merged/render_teapotScene.txt merged/eval_teapotScene.txt
for f in merged/bench_*.txt; do echo "== $f"; grep -E "alone|evaluate" $f; done
