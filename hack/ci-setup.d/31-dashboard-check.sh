#!/usr/bin/env bash
# ddmsp-dashboard-check (hack/dashboard-check): the Grafana dashboard against Grafana's own
# dashboard schema (grafana-foundation-sdk, strict) and dashboard-linter's rules, for
# tests/unit/test_cost_dashboard.py. Built with the machine's Go into ~/.cache/ddmsp/bin;
# rebuilt only when its source changes (first build ~3 min on two busy cores, then ~2 s).
set -euo pipefail
here="$(cd "$(dirname "$0")/../dashboard-check" && pwd)"
cache="${DDMSP_CACHE:-$HOME/.cache/ddmsp}"
target="$cache/bin/ddmsp-dashboard-check"
stamp="$(cat "$here/main.go" "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-16)"
if [ -x "$target" ] && [ "$(cat "$target.src" 2>/dev/null)" = "$stamp" ]; then
  echo "31-dashboard-check: $target up to date"
  exit 0
fi
mkdir -p "$cache/bin"
(cd "$here" && go build -trimpath -o "$target.tmp" .)
mv "$target.tmp" "$target"
echo "$stamp" > "$target.src"
echo "31-dashboard-check: built $target"
