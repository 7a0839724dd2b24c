#!/usr/bin/env bash
# Issue 15 (MDL and MaterialX looks): the binary from before the material work (commit cc3ed0a~1)
# against the one after (7547f16), same call, same machine. The chess grids reference the
# OpenChessSet, whose pieces were displayColor before and are their MaterialX looks after.
# Second call (run2-*.txt): `after2` is 8517f1f, whose compute shading binds up to 64 textures
# (the first call found the looks forcing forward shading with a prepass: 146 -> 393 ms).
B="${BINARIES:-before after}"
set -u
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
cd devrun
for b in $B; do gzip -dkf usdrender-$b.gz; chmod +x usdrender-$b; done
R=/tmp/mat; mkdir -p $R
G8=corpus/perf-wrappers/chess_grid_8x8_instanced.usda
G3=corpus/perf-wrappers/chess_grid_3x3_flat.usda
SET=corpus/usd-wg/full_assets/OpenChessSet/chess_set.usda
for round in 1 2; do
  for b in $B; do
    ./usdrender-$b -q bench $G8 --warmup 2 --count 20 --json $R/${b}_grid8_$round.json > $R/${b}_grid8_$round.txt 2>&1
    ./usdrender-$b -q bench $G3 --warmup 3 --count 60 --json $R/${b}_grid3_$round.json > $R/${b}_grid3_$round.txt 2>&1
    ./usdrender-$b -q bench $SET --warmup 5 --count 200 --json $R/${b}_set_$round.json > $R/${b}_set_$round.txt 2>&1
  done
done
for b in $B; do
  /usr/bin/time -f "$b whole render of the set at 1080p: %e s wall, %M KB peak" ./usdrender-$b -q render $SET -o $R/${b}_set.png --width 1920 --height 1080 --overwrite >> $R/render_times.txt 2>&1
done
./usdrender-after2 -q bench ../scenes/twins/omnipbr_textured.usda --warmup 5 --count 300 > $R/after2_twin_omnipbr_textured.txt 2>&1
./usdrender-after2 -q bench ../scenes/twins/omnipbr_textured_twin.usda --warmup 5 --count 300 > $R/after2_twin_omnipbr_textured_preview.txt 2>&1
cd /tmp && tar czf $OUT/mat.tar.gz mat && for f in mat/*.txt; do echo "== $f"; grep -E "alone|at 1920|wall" $f; done
