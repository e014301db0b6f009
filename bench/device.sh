#!/usr/bin/env bash
# The GPU check, one prepared script, one table for the README:
#   bash bench/device.sh              # on a GPU machine: at most about 5 minutes
#   bash bench/device.sh --size=tiny  # toy sizes: checks the script itself on a CPU
# One training step of each paper preset, bench/throughput.py on each backend
# (tf.data and in-graph augmentation side by side), and the augmentation alone,
# tf.data against in-graph. Without a GPU (and without --size=tiny or
# --allow_cpu) it prints one line and exits 2. See bench/device.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" bench/device.py "$@"
