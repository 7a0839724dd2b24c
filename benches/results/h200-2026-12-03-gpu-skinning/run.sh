#!/usr/bin/env bash
# GPU skinning and motion blur (issue 14): "prev" = the stop-23 binary (9a66b5a, CPU skinning),
# "new" = main with skinning in a compute pass, --motion-blur, displacement and varying topology.
# The crowd (benches/scenes/rigged_crowd.usda, its references pointed at the corpus copy that
# travelled), the four perf scenes, and motion blur's cost, all in this one call.
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
for b in prev new; do gzip -dkf usdrender-$b.gz; chmod +x usdrender-$b; done
R=/tmp/gpuskin; mkdir -p $R
nproc > $R/machine.txt; nvidia-smi -L >> $R/machine.txt 2>&1
C=corpus; T=$C/usd-wg/intent-vfx/scenes/teapotScene.usd; F=$C/perf-wrappers/teapot_field_40x40_refs.usda
V=$C/perf-wrappers/vehicles_pointinstancer_10k_anim.usdc; D=../scenes/default.usda; K=rigged_crowd.usda
./usdrender-new -q render $T --frames 0-3 --width 1920 --height 1080 -o /tmp/warm/f.####.png > /dev/null 2>&1
for round in 1 2; do
  for b in prev new; do
    ./usdrender-$b -q bench $K --frames 0-59 --count 240 --json $R/bench_crowd_${b}_$round.json > $R/bench_crowd_${b}_$round.txt 2>&1
    rm -rf /tmp/out_$b; sync
    /usr/bin/time -f "$b round $round wall_s %e peak_kb %M cpu %P" ./usdrender-$b -q render $K --frames 0-59 --width 1920 --height 1080 -o /tmp/out_$b/f.####.png > $R/render_crowd_${b}_$round.log 2>&1
    echo "$(tail -1 $R/render_crowd_${b}_$round.log) files $(ls /tmp/out_$b | wc -l)" >> $R/render_crowd.txt
  done
done
for b in prev new; do
  ./usdrender-$b -q bench $T --frames 0-480 --count 240 --json $R/bench_teapotScene_$b.json > $R/bench_teapotScene_$b.txt 2>&1
  ./usdrender-$b -q bench $V --count 48 --warmup 4 --json $R/bench_vehicles_$b.json > $R/bench_vehicles_$b.txt 2>&1
  ./usdrender-$b -q bench $F --count 200 --json $R/bench_field_$b.json > $R/bench_field_$b.txt 2>&1
  ./usdrender-$b -q bench $D --count 200 --json $R/bench_default_$b.json > $R/bench_default_$b.txt 2>&1
done
./usdrender-new -q bench $D --count 100 --motion-blur --json $R/bench_default_mblur.json > $R/bench_default_mblur.txt 2>&1
./usdrender-new -q bench $T --frames 0-480 --count 60 --motion-blur --json $R/bench_teapotScene_mblur.json > $R/bench_teapotScene_mblur.txt 2>&1
./usdrender-new -q bench $K --frames 0-59 --count 60 --motion-blur --json $R/bench_crowd_mblur.json > $R/bench_crowd_mblur.txt 2>&1
rm -rf /tmp/out_mb; sync
/usr/bin/time -f "teapotScene 0-120 --motion-blur wall_s %e peak_kb %M cpu %P" ./usdrender-new -q render $T --frames 0-120 --motion-blur --width 1920 --height 1080 -o /tmp/out_mb/f.####.png > $R/render_teapotScene_mblur.log 2>&1
echo "$(tail -1 $R/render_teapotScene_mblur.log) files $(ls /tmp/out_mb | wc -l)" >> $R/render_mblur.txt
cp /tmp/out_mb/f.0060.png $R/teapotScene_mblur_0060.png 2>/dev/null
cd /tmp && tar czf $OUT/gpuskin.tar.gz gpuskin && cat gpuskin/render_crowd.txt gpuskin/render_mblur.txt
for f in gpuskin/bench_*.txt; do echo "== $f"; grep -E "alone|at 1920|end to end" $f | sed 's/ at 1920x1080.*load/ load/'; done
