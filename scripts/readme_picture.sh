#!/usr/bin/env bash
# The README's picture: the first screen of a report that adnkit wrote, taken by headless Chromium.
#   bash scripts/readme_picture.sh [runs/demo/report.html] [docs/images/report.png]
# Needs Chromium (Debian: apt-get install chromium). The report is offline (plotly.js embedded), so no network.
set -euo pipefail
report="${1:-runs/demo/report.html}"
out="${2:-docs/images/report.png}"
[ -f "$report" ] || { echo "readme_picture: $report does not exist; run 'make demo' first" >&2; exit 2; }
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
[ -n "$browser" ] || { echo "readme_picture: no Chromium on PATH; apt-get install chromium" >&2; exit 2; }
mkdir -p "$(dirname "$out")"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,900 \
    --virtual-time-budget=5000 --screenshot="$out" "file://$(realpath "$report")" 2>/dev/null
echo "readme_picture: $out"
