#!/usr/bin/env bash
# Third call: the session's last binary ("final": the start-up work, the MSAA pattern made Storm's
# by drawing the main pass upside down, refined spheres) against "base" (f2f7d5c): render-only
# bench of the four perf scenes, and teapotScene's whole process twice each.
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
for b in base final; do gzip -dkf usdrender-$b.gz; chmod +x usdrender-$b; done
R=/tmp/startup3; mkdir -p $R
nproc > $R/machine.txt; nvidia-smi -L >> $R/machine.txt 2>&1
C=corpus; T=$C/usd-wg/intent-vfx/scenes/teapotScene.usd; F=$C/perf-wrappers/teapot_field_40x40_refs.usda
V=$C/perf-wrappers/vehicles_pointinstancer_10k_anim.usdc; D=../scenes/default.usda
./usdrender-final -q render $T --frames 0-3 --width 1920 --height 1080 -o /tmp/warm/f.####.png > /dev/null 2>&1
for round in 1 2; do
  for b in base final; do
    ./usdrender-$b -q bench $T --frames 0-480 --count 240 --json $R/bench_teapotScene_${b}_$round.json > $R/bench_teapotScene_${b}_$round.txt 2>&1
    ./usdrender-$b -q bench $V --count 48 --warmup 4 --json $R/bench_vehicles_${b}_$round.json > $R/bench_vehicles_${b}_$round.txt 2>&1
    ./usdrender-$b -q bench $F --count 200 --json $R/bench_field_${b}_$round.json > $R/bench_field_${b}_$round.txt 2>&1
    ./usdrender-$b -q bench $D --count 200 --json $R/bench_default_${b}_$round.json > $R/bench_default_${b}_$round.txt 2>&1
    rm -rf /tmp/out_$b; sync
    /usr/bin/time -f "$b round $round wall_s %e peak_kb %M cpu %P" ./usdrender-$b -q render $T --frames 0-480 --width 1920 --height 1080 -o /tmp/out_$b/f.####.png > $R/render_${b}_$round.log 2>&1
    echo "$(tail -1 $R/render_${b}_$round.log) files $(ls /tmp/out_$b | wc -l)" >> $R/render_teapotScene.txt
  done
done
cd /tmp && tar czf $OUT/startup3.tar.gz startup3 && cat startup3/render_teapotScene.txt
for f in startup3/bench_*.txt; do echo "== $f"; grep -E "alone|at 1920" $f | sed 's/ at 1920x1080.*load/ load/'; done
