#!/usr/bin/env bash
# Compute shading (visibility buffer) against forward shading, same binary, 1920x1080 4x MSAA:
# GPU pass time and fps of the bundled scene, the teapot field and the lit teapot field; then one
# frame of each rendered both ways and compared.
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
mkdir -p /tmp/c /tmp/r $OUT/img && tar -xJf .devrun/corpus.tar.xz -C /tmp/c
B=.devrun/usdrender
chmod +x $B
{ nvidia-smi --query-gpu=name,driver_version,pci.bus_id,memory.total --format=csv; nproc; } > $OUT/machine.txt 2>&1
bench() { # path scene count
  local p=$1 s=$2 n=$3
  local name=$(basename "$s"); name=${name%%.*}
  echo "== $p $name" >> $OUT/bench.txt
  /usr/bin/time -f "peak RSS %M KB, wall %e s" timeout 150 $B -q bench "$s" --res 1920x1080 --warmup 10 --count $n --shading-pass $p --json /tmp/r/h100-compute-shading-$p-$name.json >> $OUT/bench.txt 2>&1
}
S="scenes/default.usda /tmp/c/perf-wrappers/teapot_field_40x40_refs.usda /tmp/c/perf-wrappers/teapot_field_lit.usda"
for round in 1 2; do
  for s in $S; do
    bench forward $s 200
    bench compute $s 200
  done
done
for s in $S; do
  name=$(basename "$s"); name=${name%%.*}
  for p in forward compute; do
    timeout 60 $B -q render $s -o $OUT/img/$name-$p.####.png --frames 1 --width 1920 --shading-pass $p >> $OUT/render.txt 2>&1
  done
  timeout 60 $B compare $OUT/img/$name-compute.####.png $OUT/img/$name-forward.####.png --fail 0.02 --flip-fail 0.02 >> $OUT/compare.txt 2>&1
done
(cd /tmp/r && tar -czf $OUT/bench-json.tgz *.json)
