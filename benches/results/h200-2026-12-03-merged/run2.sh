#!/usr/bin/env bash
# Second call. The first found teapotScene's GPU frame 5.64 -> 6.11 ms after the merges. Variants:
# B = after with cs_shade placing surface vertices the short way (camera-facing placement only for
# curves and points), C = B with the vertex shaders' placement taken out too (diagnostic only).
# The vehicles' referenced assets travel this time (the first call drew none of them).
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
for b in before after B C; do gzip -dkf usdrender-$b.gz; chmod +x usdrender-$b; done
R=/tmp/merged2; mkdir -p $R
C=corpus; T=$C/usd-wg/intent-vfx/scenes/teapotScene.usd; F=$C/perf-wrappers/teapot_field_40x40_refs.usda
V=$C/perf-wrappers/vehicles_pointinstancer_10k_anim.usdc; D=../scenes/default.usda
for round in 1 2; do
  for b in before after B C; do
    ./usdrender-$b -q bench $T --frames 0-480 --count 240 --json $R/bench_teapotScene_${b}_$round.json > $R/bench_teapotScene_${b}_$round.txt 2>&1
  done
done
for b in before after B; do
  ./usdrender-$b -q bench $F --count 200 --json $R/bench_field_$b.json > $R/bench_field_$b.txt 2>&1
  ./usdrender-$b -q bench $V --count 48 --warmup 4 --json $R/bench_vehicles_$b.json > $R/bench_vehicles_$b.txt 2>&1
  ./usdrender-$b -q bench $D --count 200 --json $R/bench_default_$b.json > $R/bench_default_$b.txt 2>&1
done
for b in before B; do
  rm -rf /tmp/out_$b
  /usr/bin/time -f "$b wall_s %e peak_kb %M cpu %P" env RUST_LOG=info ./usdrender-$b render $T --frames 0-480 --width 1920 --height 1080 -o /tmp/out_$b/f.####.png > $R/render_$b.log 2>&1
  tail -1 $R/render_$b.log >> $R/render_teapotScene.txt
  echo "$b files $(ls /tmp/out_$b | wc -l) first $(grep -m1 'frame [0-9]* on' $R/render_$b.log | cut -c2-24) last $(grep 'frame [0-9]* on' $R/render_$b.log | tail -1 | cut -c2-24)" >> $R/render_teapotScene.txt
done
gzip -f $R/render_*.log
cd /tmp && tar czf $OUT/merged2.tar.gz merged2 && cat merged2/render_teapotScene.txt
for f in merged2/bench_*.txt; do echo "== $f"; grep -E "alone|at 1920" $f | sed 's/ at 1920x1080.*load/ load/'; done
