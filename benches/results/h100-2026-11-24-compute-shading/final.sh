#!/usr/bin/env bash
# Final: compute shading + kept shadow maps against forward shading, same binary, 1920x1080 4x MSAA:
# bench (render only, + readback, end to end) of the bundled scene, both teapot fields and the
# vehicles point instancer, and the bundled scene forced to compute; JSON reports kept. Then one frame of each
# field both ways, compared.
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
mkdir -p /tmp/c /tmp/r $OUT/img && tar -xJf .devrun/corpus.tar.xz -C /tmp/c
B=.devrun/usdrender; chmod +x $B
{ nvidia-smi --query-gpu=name,driver_version,pci.bus_id,memory.total --format=csv; nproc; } > $OUT/machine.txt 2>&1
bench() { # path scene count [extra]
  local p=$1 s=$2 n=$3; shift 3
  local name=$(basename "$s"); name=${name%%.*}
  echo "== $p $name" >> $OUT/bench.txt
  /usr/bin/time -f "peak RSS %M KB, wall %e s" timeout 170 $B -q bench "$s" --res 1920x1080 --warmup 10 --count $n --shading-pass $p --json /tmp/r/h100-compute-shading-$p-$name.json "$@" >> $OUT/bench.txt 2>&1
}
for s in scenes/default.usda /tmp/c/perf-wrappers/teapot_field_40x40_refs.usda /tmp/c/perf-wrappers/teapot_field_lit.usda; do
  bench forward $s 200
  bench auto $s 200
done
bench forward /tmp/c/perf-wrappers/vehicles_pointinstancer_10k_anim.usdc 100
bench auto /tmp/c/perf-wrappers/vehicles_pointinstancer_10k_anim.usdc 100
bench compute scenes/default.usda 200
for s in /tmp/c/perf-wrappers/teapot_field_40x40_refs.usda /tmp/c/perf-wrappers/teapot_field_lit.usda /tmp/c/perf-wrappers/vehicles_pointinstancer_10k_anim.usdc; do
  name=$(basename "$s"); name=${name%%.*}
  for p in forward auto; do
    RUST_LOG=usdrender=debug timeout 60 $B render $s -o /tmp/r/$name-$p.####.png --frames 1 --width 1920 --shading-pass $p 2>&1 | grep -o "opaque surfaces shaded.*" >> $OUT/render.txt
  done
  timeout 60 $B -q compare /tmp/r/$name-auto.####.png /tmp/r/$name-forward.####.png --fail 0.02 --flip-fail 0.02 >> $OUT/compare.txt 2>&1
done
cp /tmp/r/teapot_field_40x40_refs-auto.0001.png /tmp/r/teapot_field_40x40_refs-forward.0001.png $OUT/img/ 2>/dev/null
(cd /tmp/r && tar -czf $OUT/bench-json.tgz *.json)
