#!/usr/bin/env bash
# Runs the test suite on the three Keras backends. Extra arguments go to every
# pytest call (e.g. -x, -k NAME).
#
# KCONTRAST_TESTS picks what runs (the "main" backend is $KERAS_BACKEND,
# default tensorflow):
#   quick (default)  every test not marked `slow` on the main backend, then
#                    the small backend matrix (marker `matrix`: losses, train
#                    step, export; not slow) on the two others.
#   full             the whole suite, slow tests included: every test under
#                    TensorFlow, then the backend-dependent tests (marker
#                    `backend`) under JAX and PyTorch. What CI runs, in total.
#   rest             full minus quick: what quick left out, plus the tests of
#                    data from system packages (marker `packaged_data`, which
#                    skip where it is absent). CI runs quick in its README
#                    stage without the data, then rest, so nothing runs twice.
# KCONTRAST_TEST_BACKENDS (default "tensorflow jax torch") restricts the
# stages, e.g. KCONTRAST_TEST_BACKENDS=torch runs only the torch stage.
#
# A stage that collects nothing (pytest's exit code 5, e.g. a -k filter that
# matches none of its tests) is reported and is not a failure; when no stage
# collects anything, the run fails (exit 1). Exit 2 on a bad setting.
set -u
mode=${KCONTRAST_TESTS:-quick}
main=${KERAS_BACKEND:-tensorflow}
stages=${KCONTRAST_TEST_BACKENDS:-tensorflow jax torch}
case $mode in
  quick|full|rest) ;;
  *) echo "run_backends.sh: error: Expected KCONTRAST_TESTS among quick, full, rest; Received: $mode" >&2
     exit 2 ;;
esac
case $main in
  tensorflow|jax|torch) ;;
  *) echo "run_backends.sh: error: Expected KERAS_BACKEND among tensorflow, jax, torch; Received: $main" >&2
     exit 2 ;;
esac

# The marker expression of one stage ("" = every test).
marker_expr() {
  local backend=$1 full quick
  if [ "$backend" = tensorflow ]; then full=""; else full="backend"; fi
  if [ "$backend" = "$main" ]; then quick="not slow"; else quick="matrix and not slow"; fi
  case $mode in
    full) echo "$full" ;;
    quick) echo "$quick" ;;
    rest) if [ -n "$full" ]; then echo "($full) and not ($quick)"
          else echo "not ($quick) or packaged_data"; fi ;;
  esac
}

status=0
collected=0
ran=0
for backend in ${stages//,/ }; do
  case $backend in
    tensorflow|jax|torch) ;;
    *) echo "run_backends.sh: error: Expected KCONTRAST_TEST_BACKENDS among tensorflow, jax, torch; Received: $backend" >&2
       exit 2 ;;
  esac
  ran=1
  expr=$(marker_expr "$backend")
  marker=()
  [ -z "$expr" ] || marker=(-m "$expr")
  echo "=== KERAS_BACKEND=$backend pytest -q${expr:+ -m \"$expr\"} $*"
  t0=$(date +%s)
  KERAS_BACKEND=$backend python -m pytest -q "${marker[@]}" "$@"
  rc=$?
  echo "--- $backend: $(( $(date +%s) - t0 ))s, exit $rc"
  if [ "$rc" -eq 5 ]; then
    echo "no tests collected under $backend"
  elif [ "$rc" -ne 0 ]; then
    status=1; collected=1
  else
    collected=1
  fi
done
[ "$ran" -eq 1 ] || { echo "run_backends.sh: error: Expected at least one backend; Received: KCONTRAST_TEST_BACKENDS='$stages'" >&2; exit 2; }
[ "$collected" -eq 1 ] || { echo "run_backends.sh: no stage collected any test"; exit 1; }
exit $status
