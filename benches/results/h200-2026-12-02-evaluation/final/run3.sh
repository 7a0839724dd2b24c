#!/usr/bin/env bash
# Final check of this session's binary (after the gpu/ moves) against the binary before it, in one call.
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
for b in usdrender-before usdrender-after; do gzip -dkf $b.gz; chmod +x $b; done
R=/tmp/final; mkdir -p $R
C=corpus; T=$C/usd-wg/intent-vfx/scenes/teapotScene.usd; F=$C/perf-wrappers/teapot_field_40x40_refs.usda
V=$C/perf-wrappers/vehicles_pointinstancer_10k_anim.usdc; D=../scenes/default.usda
./usdrender-after -q bench $T --evaluate-only --frames 0-480 --count 481 --json $R/eval_teapotScene.json > $R/eval_teapotScene.txt 2>&1
for b in before after; do
  rm -rf /tmp/out_$b
  /usr/bin/time -f "$b wall_s %e peak_kb %M cpu %P" ./usdrender-$b -q render $T --frames 0-480 --width 1920 --height 1080 -o /tmp/out_$b/f.####.png >> $R/render_teapotScene.txt 2>&1
  ls /tmp/out_$b | wc -l >> $R/render_teapotScene.txt
done
for b in before after; do
  ./usdrender-$b -q bench $T --frames 0-480 --count 240 --json $R/bench_teapotScene_$b.json > $R/bench_teapotScene_$b.txt 2>&1
  ./usdrender-$b -q bench $F --count 200 --json $R/bench_field_$b.json > $R/bench_field_$b.txt 2>&1
  ./usdrender-$b -q bench $D --count 200 --json $R/bench_default_$b.json > $R/bench_default_$b.txt 2>&1
  ./usdrender-$b -q bench $V --count 48 --warmup 4 --json $R/bench_vehicles_$b.json > $R/bench_vehicles_$b.txt 2>&1
done
cd /tmp && tar czf $OUT/final.tar.gz final && cat final/render_teapotScene.txt final/eval_teapotScene.txt
for f in final/bench_*.txt; do echo "== $f"; grep -E "alone|evaluate" $f; done
