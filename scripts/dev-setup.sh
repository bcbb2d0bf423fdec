#!/usr/bin/env bash
# Everything the test suite needs, on a fresh machine or again on a set-up one (skips what is there):
#   scripts/dev-setup.sh && python -m pytest
# 1. Debian packages (Chromium for the browser tests, espeak-ng and sox for the voice): scripts/system-packages.sh.
# 2. Python packages: requirements-dev.txt, which adds pytest, Playwright and llama-cpp-python[server] (compiled, ~5 min).
# 3. A check that the compiled llama.cpp runs the model. llama.cpp builds for the CPU it compiles on by default
#    (GGML_NATIVE); on CPUs with AMX/AVX512 that build segfaults on its first Gemma 3 token (seen with 0.3.36), and a
#    wheel cached by pip from another machine may not suit this one. We build portable code (AVX2, no AMX/AVX512) and,
#    if the installed one still crashes, rebuild it without pip's cache.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-packages.sh
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
pip install -r requirements-dev.txt
if ! python scripts/check_llama.py; then
    echo "dev-setup: llama.cpp does not run here; rebuilding llama-cpp-python with CMAKE_ARGS=$CMAKE_ARGS (about 5 minutes)"
    version=$(python -c "import importlib.metadata as m; print(m.version('llama-cpp-python'))")
    pip install --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==$version"
    python scripts/check_llama.py
fi
