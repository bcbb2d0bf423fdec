#!/usr/bin/env bash
# Debian packages the assistant uses outside Python: Chromium (browser tests of the product pages, driven by
# Playwright from PyPI), espeak-ng (persona voices) and sox (audio clean-up). Safe to run again; skips what is there.
#   sudo scripts/system-packages.sh        (or as root; CI runs it before the tests)
set -euo pipefail
want=()
command -v chromium >/dev/null 2>&1 || want+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || want+=(espeak-ng)
command -v sox >/dev/null 2>&1 || want+=(sox)
if [ ${#want[@]} -eq 0 ]; then
    echo "system packages: all present"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system packages: apt-get not found; please install ${want[*]} with your package manager" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "system packages: installing ${want[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
echo "system packages: installed ${want[*]}"
