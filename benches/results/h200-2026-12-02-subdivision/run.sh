#!/usr/bin/env bash
# Subdivision: the chess grid at --complexity high; the crowd and the default scene with the same binary.
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
gzip -dkf usdrender-sub.gz; chmod +x usdrender-sub
R=/tmp/sub; mkdir -p $R
C=corpus/perf-wrappers/chess_grid_8x8_instanced.usda
./usdrender-sub -q bench $C --complexity high --warmup 1 --count 3 --json $R/bench_chess_high.json > $R/bench_chess_high.txt 2>&1
./usdrender-sub -q bench $C --warmup 2 --count 10 --json $R/bench_chess_low.json > $R/bench_chess_low.txt 2>&1
./usdrender-sub -q bench rigged_crowd.usda --frames 0-59 --count 240 --json $R/bench_crowd.json > $R/bench_crowd.txt 2>&1
./usdrender-sub -q bench ../scenes/default.usda --count 200 --json $R/bench_default.json > $R/bench_default.txt 2>&1
cd /tmp && tar czf $OUT/sub.tar.gz sub && for f in sub/bench_*.txt; do echo "== $f"; grep -E "alone|at 1920|triangles" $f; done
