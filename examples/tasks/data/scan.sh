#!/bin/sh
# One job of the example scan: counts the samples above the config's threshold in every CSV of
# the data folder. Usage: scan.sh CONFIG DATA_FOLDER OUT (OUT does not exist yet; made here).
set -eu
config=$1
data=$2
out=$3
threshold=$(sed -n 's/^threshold=//p' "$config")
case $threshold in
  '' | *[!0-9]*) echo "no numeric threshold= line in $config" >&2; exit 2 ;;
esac
mkdir "$out"
awk -F, -v t="$threshold" 'FNR > 1 && $2 + 0 > t + 0 { n++ }
  END { printf "{\"threshold\": %d, \"above\": %d}\n", t, n }' "$data"/*.csv > "$out/result.json"
echo "threshold $threshold: $(cat "$out/result.json")"
