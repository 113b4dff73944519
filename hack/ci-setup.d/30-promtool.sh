#!/usr/bin/env bash
# promtool (Prometheus' rule checker) for tests/unit/test_alert_rules.py: `promtool test
# rules` on every PrometheusRule the chart renders. Debian's `prometheus` package carries it
# (19 MB download, 96 MB installed with the server, a service and web assets); only the
# promtool binary is extracted from it, into ~/.cache/ddmsp/bin/promtool. Idempotent.
set -euo pipefail
cache="${DDMSP_CACHE:-$HOME/.cache/ddmsp}"
target="$cache/bin/promtool"
if command -v promtool >/dev/null 2>&1 || [ -x "$target" ]; then
  echo "30-promtool: $(command -v promtool || echo "$target") present"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download prometheus >/dev/null 2>&1; then
  apt-get update -qq
  apt-get download prometheus
fi
dpkg-deb -x prometheus_*.deb root
mkdir -p "$cache/bin"
install -m 0755 root/usr/bin/promtool "$target.tmp"
mv "$target.tmp" "$target"
"$target" --version | head -1
