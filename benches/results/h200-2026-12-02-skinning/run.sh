#!/usr/bin/env bash
# Skinning session: the crowd (skinned, 1,000 figures) and the existing perf scenes, after vs before.
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
for b in usdrender-after usdrender-skin; do gzip -dkf $b.gz; chmod +x $b; done
R=/tmp/skin; mkdir -p $R
C=corpus; T=$C/usd-wg/intent-vfx/scenes/teapotScene.usd; F=$C/perf-wrappers/teapot_field_40x40_refs.usda; D=../scenes/default.usda
./usdrender-skin -q bench rigged_crowd.usda --frames 0-59 --count 240 --json $R/bench_crowd.json > $R/bench_crowd.txt 2>&1
./usdrender-skin -q bench rigged_crowd.usda --evaluate-only --frames 0-59 --count 240 --json $R/eval_crowd.json > $R/eval_crowd.txt 2>&1
rm -rf /tmp/out_crowd
/usr/bin/time -f "crowd wall_s %e peak_kb %M cpu %P" ./usdrender-skin -q render rigged_crowd.usda --frames 0-59 --width 1920 --height 1080 -o /tmp/out_crowd/f.####.png > $R/render_crowd.txt 2>&1
ls /tmp/out_crowd | wc -l >> $R/render_crowd.txt
for b in after skin; do
  ./usdrender-$b -q bench $T --frames 0-480 --count 240 --json $R/bench_teapotScene_$b.json > $R/bench_teapotScene_$b.txt 2>&1
  ./usdrender-$b -q bench $F --count 200 --json $R/bench_field_$b.json > $R/bench_field_$b.txt 2>&1
  ./usdrender-$b -q bench $D --count 200 --json $R/bench_default_$b.json > $R/bench_default_$b.txt 2>&1
done
cd /tmp && tar czf $OUT/skin.tar.gz skin && cat skin/render_crowd.txt skin/eval_crowd.txt skin/bench_crowd.txt
for f in skin/bench_*_*.txt; do echo "== $f"; grep -E "alone|evaluate|end to end" $f; done
