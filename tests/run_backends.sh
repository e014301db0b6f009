#!/usr/bin/env bash
# Runs the test suite the way CI does: every test under TensorFlow, then the
# backend-dependent tests (marker `backend`) under JAX and PyTorch.
# Extra arguments go to every pytest call (e.g. -x, -k NAME).
set -u
status=0
run() {
  local backend=$1; shift
  echo "=== KERAS_BACKEND=$backend pytest $*"
  KERAS_BACKEND=$backend python -m pytest "$@"
  local rc=$?
  if [ "$rc" -eq 5 ]; then
    # pytest's "no tests collected": a filter that matched nothing is not a
    # failure for the per-backend reruns, but it is for the full run.
    if [ "$backend" = tensorflow ]; then
      echo "no tests collected under $backend"; status=1
    else
      echo "no backend tests collected under $backend"
    fi
  elif [ "$rc" -ne 0 ]; then
    status=1
  fi
}
run tensorflow -q "$@"
run jax -q -m backend "$@"
run torch -q -m backend "$@"
exit $status
