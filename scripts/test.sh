#!/usr/bin/env bash
# The test command (README): the unit tests, then the strict docs build.
set -euo pipefail
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 NO_MKDOCS_2_WARNING=1
python -m pytest -q "$@"
if [ -f mkdocs.yml ]; then mkdocs build --strict -q -d "$(mktemp -d)"; fi
