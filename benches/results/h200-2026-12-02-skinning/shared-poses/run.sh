#!/usr/bin/env bash
# The crowd after pose sharing and coalesced vertex writes (skin2) vs the first skinning binary (skin).
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
for b in usdrender-skin usdrender-skin2; do gzip -dkf $b.gz; chmod +x $b; done
R=/tmp/skin2; mkdir -p $R
for b in skin skin2; do
  ./usdrender-$b -q bench rigged_crowd.usda --frames 0-59 --count 240 --json $R/bench_crowd_$b.json > $R/bench_crowd_$b.txt 2>&1
  rm -rf /tmp/out_crowd
  /usr/bin/time -f "$b wall_s %e peak_kb %M cpu %P" ./usdrender-$b -q render rigged_crowd.usda --frames 0-59 --width 1920 --height 1080 -o /tmp/out_crowd/f.####.png >> $R/render_crowd.txt 2>&1
  ls /tmp/out_crowd | wc -l >> $R/render_crowd.txt
done
./usdrender-skin2 -q bench corpus/usd-wg/intent-vfx/scenes/teapotScene.usd --frames 0-480 --count 240 --json $R/bench_teapotScene_skin2.json > $R/bench_teapotScene_skin2.txt 2>&1
cd /tmp && tar czf $OUT/skin2.tar.gz skin2 && cat skin2/render_crowd.txt && for f in skin2/bench_*.txt; do echo "== $f"; grep -E "alone|evaluate|at 1920" $f; done
