#!/usr/bin/env bash
# Headless Chromium for the demo page's browser tests (tests/test_demo_page.py): Debian's chromium and
# chromium-driver, installed when missing and apt-get can run (root, or sudo without a password). Run by test.sh;
# without a browser those tests skip, except in CI (RECENGINE_REQUIRE_BROWSER=1 in .ci/run), where they fail.
set -euo pipefail

[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && exit 0
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
if ! command -v apt-get >/dev/null || { [ -n "$sudo" ] && ! sudo -n true 2>/dev/null; }; then
  echo "note: no /usr/bin/chromium, and no apt-get run as root (or by sudo) to install it: browser tests skip" >&2
  exit 0
fi
echo "installing chromium and chromium-driver (apt-get) for the demo page's browser tests ..." >&2
apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get -y -q)
if ! "${apt[@]}" install chromium chromium-driver >/dev/null 2>&1; then
  { "${apt[@]}" update >/dev/null 2>&1 && "${apt[@]}" install chromium chromium-driver >/dev/null 2>&1; } \
    || echo "note: could not install chromium and chromium-driver; the browser tests will skip" >&2
fi
