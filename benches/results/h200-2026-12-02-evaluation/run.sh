#!/usr/bin/env bash
# One experiment on the GPU machine: issue 12's before/after figures. Each binary is run in the
# same call; results go to $OUT/results.tar.gz.
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
for b in usdrender-before usdrender-after; do gzip -dkf $b.gz; chmod +x $b; done
R=/tmp/results; mkdir -p $R
C=corpus; T=$C/usd-wg/intent-vfx/scenes/teapotScene.usd; F=$C/perf-wrappers/teapot_field_40x40_refs.usda
V=$C/perf-wrappers/vehicles_pointinstancer_10k_anim.usdc; D=../scenes/default.usda
{ nproc; nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader; } > $R/machine.txt 2>&1
# Evaluation alone (after only: before has no --evaluate-only).
./usdrender-after -q bench $T --evaluate-only --frames 0-480 --count 481 --json $R/eval_teapotScene.json > $R/eval_teapotScene.txt 2>&1
# Whole process, teapotScene frames 0-480, 1920x1080 PNG: wall seconds and peak RSS (KB).
for b in before after; do
  rm -rf /tmp/out_$b
  /usr/bin/time -f "$b wall_s %e peak_kb %M cpu %P" ./usdrender-$b -q render $T --frames 0-480 --width 1920 --height 1080 -o /tmp/out_$b/f.####.png >> $R/render_teapotScene.txt 2>&1
  ls /tmp/out_$b | wc -l >> $R/render_teapotScene.txt
done
# bench: render-only, +readback, end to end, each binary in turn.
for b in before after; do
  ./usdrender-$b -q bench $T --frames 0-480 --count 240 --json $R/bench_teapotScene_$b.json > $R/bench_teapotScene_$b.txt 2>&1
  ./usdrender-$b -q bench $F --count 200 --json $R/bench_field_$b.json > $R/bench_field_$b.txt 2>&1
  ./usdrender-$b -q bench $D --count 200 --json $R/bench_default_$b.json > $R/bench_default_$b.txt 2>&1
  ./usdrender-$b -q bench $V --count 48 --warmup 4 --json $R/bench_vehicles_$b.json > $R/bench_vehicles_$b.txt 2>&1
done
cd /tmp && tar czf $OUT/results.tar.gz results && cat results/*.txt
