#!/usr/bin/env bash
# Fourth call: where the whole-process teapotScene render spends the 0.3 s it gained at start-up
# (third call: first-to-last frame equal, wall 3.74 -> 4.08 s). "final2" = final without the
# default-time framing bounds outside harness mode. Phases from the log's timestamps.
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
for b in before final2; do gzip -dkf usdrender-$b.gz; chmod +x usdrender-$b; done
R=/tmp/merged4; mkdir -p $R
T=corpus/usd-wg/intent-vfx/scenes/teapotScene.usd
for round in 1 2 3; do
  for b in before final2; do
    rm -rf /tmp/out_$b
    start=$(date -u +%H:%M:%S.%N | cut -c1-12)
    /usr/bin/time -f "$b round $round wall_s %e peak_kb %M cpu %P" env RUST_LOG=info ./usdrender-$b render $T --frames 0-480 --width 1920 --height 1080 -o /tmp/out_$b/f.####.png > $R/render_${b}_$round.log 2>&1
    L=$R/render_${b}_$round.log
    echo "$(tail -1 $L) | start $start camera $(grep -m1 'camera:' $L | cut -c13-24) ready $(grep -m1 'ready on' $L | cut -c13-24) first $(grep -m1 'frame [0-9]* on' $L | cut -c13-24) last $(grep 'frame [0-9]* on' $L | tail -1 | cut -c13-24) files $(ls /tmp/out_$b | wc -l)" >> $R/render_teapotScene.txt
  done
done
gzip -f $R/render_*.log
cd /tmp && tar czf $OUT/merged4.tar.gz merged4 && cat merged4/render_teapotScene.txt
