#!/usr/bin/env bash
# Label Studio for tests/serve/test_label_studio.py, set up once: its own venv (label-studio pins numpy and
# OpenCV below the versions gnrcnn runs, so it never goes into .venv) and a data folder migrated once
# (Django's migrations take minutes; each test run copies this folder and starts in seconds).
# Usage: tests/scripts/label_studio_prepare.sh [VENV]   (default: $GNRCNN_LS_VENV, else .venv-labelstudio)
set -euo pipefail
VENV=${1:-${GNRCNN_LS_VENV:-.venv-labelstudio}}
PYTHON=${PYTHON:-python3}
PINS="label-studio==1.23.2 label-studio-sdk==2.1.2"
LOCK=$(dirname "$0")/label_studio_lock.txt  # every dependency's version: new releases upstream cannot break it
TEMPLATE=$VENV/template  # the migrated data folder, with the test user; ready when template/READY exists

if [ ! -x "$VENV/bin/label-studio" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q -c "$LOCK" $PINS
fi
if [ ! -f "$TEMPLATE/READY" ]; then
    rm -rf "$TEMPLATE.partial"
    # The user and its legacy token are the test's own (tests/serve/label_studio_server.py reads them from here).
    LABEL_STUDIO_LATEST_VERSION_CHECK=false LABEL_STUDIO_BASE_DATA_DIR="$TEMPLATE.partial" "$VENV/bin/label-studio" init --quiet --no-browser \
        --data-dir "$TEMPLATE.partial" --username gnrcnn-test@example.com --password gnrcnn-test-password \
        --user-token gnrcnn0test0token0123456789 --enable-legacy-api-token
    touch "$TEMPLATE.partial/READY"
    rm -rf "$TEMPLATE"
    mv "$TEMPLATE.partial" "$TEMPLATE"
fi
echo "Label Studio ready: $VENV (label-studio $("$VENV/bin/python" -c "import label_studio; print(label_studio.__version__)")), template $TEMPLATE"
