#!/usr/bin/env bash
# Runs the test suite the way CI does: every test under TensorFlow, then the
# backend-dependent tests (marker `backend`) under JAX and PyTorch.
# Extra arguments go to every pytest call (e.g. -x, -k NAME).
# KCONTRAST_TEST_BACKENDS (default "tensorflow jax torch") picks the stages,
# e.g. KCONTRAST_TEST_BACKENDS=torch runs only the torch stage.
set -u
status=0
stages=${KCONTRAST_TEST_BACKENDS:-tensorflow jax torch}
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
ran=0
for backend in ${stages//,/ }; do
  case $backend in
    tensorflow) run tensorflow -q "$@" ;;
    jax|torch) run "$backend" -q -m backend "$@" ;;
    *) echo "run_backends.sh: error: Expected KCONTRAST_TEST_BACKENDS among tensorflow, jax, torch; Received: $backend" >&2
       exit 2 ;;
  esac
  ran=1
done
[ "$ran" -eq 1 ] || { echo "run_backends.sh: error: Expected at least one backend; Received: KCONTRAST_TEST_BACKENDS='$stages'" >&2; exit 2; }
exit $status
