#!/usr/bin/env bash
# A Docker engine and the operator image for tests/image/ (issue 20): Debian's docker.io and
# debootstrap installed if missing, dockerd started if no engine answers (and stopped again
# here: the tests start and stop their own), the local Debian base made or loaded from
# ~/.cache/ddmsp/images/, and the project's Dockerfile built on it (so that `make test`
# finds its layers cached). Prints the time each part took.
set -euo pipefail
cd "$(dirname "$0")/../.."
t=$SECONDS
step() { echo "20-docker: $1 in $((SECONDS - t))s"; t=$SECONDS; }
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends docker.io debootstrap >/dev/null
  step "docker.io and debootstrap installed"
fi
state=$(hack/image engine-up)
step "engine ($state)"
if [ "${state%% *}" = started ]; then
  trap 'hack/image engine-down "${state#started }"' EXIT
fi
hack/image base >/dev/null
step "local base image"
hack/image build ddmsp:test >/dev/null
step "image ddmsp:test built"
