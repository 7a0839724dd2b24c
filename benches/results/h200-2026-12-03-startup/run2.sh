#!/usr/bin/env bash
# Second call: "final" = devices opened while the stage loads, plus the walk asking each prim fewer
# composition questions (is_loaded only with payloads unloaded, visibility/purpose/drawMode only
# where authored, instance proxies from the parent, material inputs only where authored), against
# "base" (f2f7d5c). `sync` before each timed run: no writeback of the last run's 481 PNGs in it.
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
for b in base final; do gzip -dkf usdrender-$b.gz; chmod +x usdrender-$b; done
R=/tmp/startup2; mkdir -p $R
nproc > $R/machine.txt; nvidia-smi -L >> $R/machine.txt 2>&1
C=corpus; T=$C/usd-wg/intent-vfx/scenes/teapotScene.usd; F=$C/perf-wrappers/teapot_field_40x40_refs.usda; D=../scenes/default.usda
# The first process on a fresh machine pays the driver's shader compilation: not counted.
./usdrender-final -q render $T --frames 0-3 --width 1920 --height 1080 -o /tmp/warm/f.####.png > /dev/null 2>&1
./usdrender-final -q bench $T --evaluate-only --frames 0-480 --count 481 --json $R/eval_teapotScene.json > $R/eval_teapotScene.txt 2>&1
for b in base final; do ./usdrender-$b -q bench $T --frames 0-480 --count 240 --json $R/bench_teapotScene_$b.json > $R/bench_teapotScene_$b.txt 2>&1; done
for round in 1 2 3 4; do
  for b in base final; do
    rm -rf /tmp/out_$b; sync
    start=$(date -u +%H:%M:%S.%N | cut -c1-12)
    /usr/bin/time -f "$b round $round wall_s %e peak_kb %M cpu %P" env RUST_LOG=info ./usdrender-$b render $T --frames 0-480 --width 1920 --height 1080 -o /tmp/out_$b/f.####.png > $R/render_${b}_$round.log 2>&1
    L=$R/render_${b}_$round.log
    echo "$(tail -1 $L) | start $start camera $(grep -m1 'camera:' $L | cut -c13-24) adapter $(grep -m1 'adapter .*backend' $L | cut -c13-24) ready $(grep -m1 'ready on' $L | cut -c13-24) first $(grep -m1 'frame [0-9]* on' $L | cut -c13-24) last $(grep 'frame [0-9]* on' $L | tail -1 | cut -c13-24) files $(ls /tmp/out_$b | wc -l)" >> $R/render_teapotScene.txt
    for s in field default; do
      S=$F; [ $s = default ] && S=$D
      rm -rf /tmp/o2_$b; sync
      /usr/bin/time -a -o $R/render_$s.txt -f "$b round $round wall_s %e peak_kb %M" ./usdrender-$b -q render $S --frames 1-120 --width 1920 --height 1080 -o /tmp/o2_$b/f.####.png > /dev/null 2>&1
    done
  done
done
gzip -f $R/render_*.log
cd /tmp && tar czf $OUT/startup2.tar.gz startup2 && cat startup2/render_teapotScene.txt startup2/render_field.txt startup2/render_default.txt
for f in startup2/bench_*.txt; do echo "== $f"; grep -E "alone|at 1920" $f | sed 's/ at 1920x1080.*load/ load/'; done
