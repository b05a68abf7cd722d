#!/usr/bin/env bash
# Headless Chromium for the demo page's browser tests (tests/test_demo_page.py): Debian's chromium and
# chromium-driver, installed when missing and apt-get can run (root, or sudo without a password). Run by test.sh;
# without a browser those tests skip, except in CI (RECENGINE_REQUIRE_BROWSER=1 in .ci/run), where they fail.
set -euo pipefail

[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && exit 0
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
echo "installing chromium and chromium-driver (apt-get) for the demo page's browser tests ..." >&2
apt_install chromium chromium-driver || echo "note: without chromium and chromium-driver the browser tests skip" >&2
