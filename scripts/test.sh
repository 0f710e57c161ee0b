#!/usr/bin/env bash
# Run the whole test suite. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -f var/test-services.env ]; then
  set -a; . var/test-services.env; set +a
fi
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests (exit 5): treated as success, but look at the selection" >&2
  exit 0
fi
exit "$rc"
