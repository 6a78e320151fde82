#!/usr/bin/env bash
# What the tests need that pip cannot install: headless Chromium (the report.html / audit.html
# tests open the pages in it). Called by README's test command (b) before pytest.
#   - Chromium already on PATH (chromium, chromium-browser or google-chrome): says so, exits 0.
#   - Missing: installs Debian/Ubuntu's `chromium` package with apt-get (as root, or through
#     sudo without a password), then checks that it runs.
#   - Cannot (no apt-get, not root and no sudo, the install failed): one clear line saying why
#     and what to run instead, exit 1, so the test command stops now rather than after the suite.
set -u

find_chromium() {
  for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

say() { echo "install_test_system_deps: $*" >&2; }

if found=$(find_chromium); then
  say "Chromium found: $found"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  say "cannot install Chromium: no apt-get on this system. Install headless Chromium with your" \
      "package manager (e.g. 'dnf install chromium', 'brew install --cask chromium'), put it on PATH" \
      "as 'chromium', and run the test command again."
  exit 1
fi

if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
  as_root=(sudo -n)
else
  say "cannot install Chromium: it is missing and this user is neither root nor allowed to sudo" \
      "without a password. Run 'sudo apt-get install -y chromium' once, then the test command again."
  exit 1
fi

say "Chromium missing: installing it with apt-get (about 1-2 minutes)"
log=$(mktemp)
if ! { "${as_root[@]}" apt-get update -qq \
       && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium; } >"$log" 2>&1; then
  say "cannot install Chromium: 'apt-get install -y chromium' failed (last lines below). Install headless" \
      "Chromium by hand and run the test command again."
  tail -n 5 "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"

if found=$(find_chromium); then
  say "Chromium installed: $found"
  exit 0
fi
say "cannot install Chromium: apt-get reported success but no chromium is on PATH; install it by hand."
exit 1
