#!/usr/bin/env bash
# Seeds the fuzz corpus from the shared corpus: small usda, usdc and usdz files, each prefixed with
# the byte the target reads as its format (0 usda, 1 usdc, 2 usdz).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${USDRENDER_CORPUS:-../shared/corpus}
out=fuzz/corpus/load
mkdir -p "$out"
n=0
while IFS= read -r -d '' f; do
    case "$f" in
        *.usda) k='\x00' ;; *.usdc) k='\x01' ;; *.usdz) k='\x02' ;; *) continue ;;
    esac
    { printf "$k"; cat "$f"; } > "$out/seed$n"
    n=$((n + 1))
done < <(find "$corpus" -type f \( -name '*.usda' -o -name '*.usdc' -o -name '*.usdz' \) -size -64k -print0 | sort -z)
echo "$n seeds in $out"
