#!/usr/bin/env bash
# Runs the browser tests: installs what is missing (playwright-core from npm, Debian's
# chromium), builds the debug rapport binary, then runs run.mjs.
#   tests/browser/run.sh            (RAPPORT_BIN=… to test a given binary)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
  echo "installing chromium (apt-get)…"
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  DEBIAN_FRONTEND=noninteractive $apt_get install -y chromium >/dev/null || {
    DEBIAN_FRONTEND=noninteractive $apt_get update >/dev/null
    DEBIAN_FRONTEND=noninteractive $apt_get install -y chromium >/dev/null
  }
fi

if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "installing playwright-core (npm ci)…"
  (cd "$here" && npm ci --no-audit --no-fund >/dev/null)
fi

# Test the binary of this tree (cargo only rebuilds what changed), unless one is given.
if [ -z "${RAPPORT_BIN:-}" ]; then
  (cd "$root" && cargo build -q -p rapport)
  export RAPPORT_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/rapport"
fi

exec node "$here/run.mjs"
