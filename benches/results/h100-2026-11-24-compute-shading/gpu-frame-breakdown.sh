#!/usr/bin/env bash
# Where the frame's GPU time goes, forward against compute shading: pass time and whole-frame
# time (shading + post passes) of the bundled scene and the two teapot fields, 1920x1080.
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan
mkdir -p /tmp/c /tmp/r && tar -xJf .devrun/corpus.tar.xz -C /tmp/c
B=.devrun/usdrender; chmod +x $B
for s in scenes/default.usda /tmp/c/perf-wrappers/teapot_field_40x40_refs.usda /tmp/c/perf-wrappers/teapot_field_lit.usda; do
  for p in forward compute; do
    echo "== $p $(basename $s)" >> $OUT/frame.txt
    timeout 100 $B -q bench $s --res 1920x1080 --warmup 10 --count 100 --shading-pass $p >> $OUT/frame.txt 2>&1
    RUST_LOG=usdrender=debug timeout 60 $B bench $s --res 1920x1080 --warmup 3 --count 10 --no-end-to-end --shading-pass $p 2>&1 | grep "record+submit" | tail -2 >> $OUT/frame.txt
  done
done
