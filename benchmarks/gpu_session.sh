#!/usr/bin/env bash
# The GPU checks of issue 4, for a session lent the device machine (no package registry there; its
# python3 has numpy, pybind11, scikit-build-core, cmake, ninja, pytest and torch). Each stage fits in
# one device command (10 minutes at most); logs and result JSON are written under $OUT:
#
#   mkdir -p data && cp /usr/share/datasets/fashion-mnist/* data/        # here, once (data/ is ignored)
#   run(command="bash benchmarks/gpu_session.sh build test", carry=["data"])
#   run(command="bash benchmarks/gpu_session.sh build sanitize", carry=["data"])
#   run(command="bash benchmarks/gpu_session.sh build bench", carry=["data"])
#   run(command="bash benchmarks/gpu_session.sh build profile", carry=["data"])
#
# Stages: build (editable install), test (pytest -m cuda), sanitize (the GPU tests under
# compute-sanitizer memcheck and racecheck), bench (bench_train on seed_cnn and vgg_small with
# --record, against PyTorch eager and CUDA-graph in the same run; vgg_small also with TF32 for both),
# profile (one convnet epoch of each under Nsight Systems, kernels traced inside the CUDA graph: the
# per-kernel time table is in $OUT/profile-*.log; where nsys is missing, Nsight Compute's time,
# throughputs and registers of each of 150 kernels as CSV).
# Each stage is stopped after STAGE_TIMEOUT seconds (540); the build targets CUDA_ARCHITECTURES (90-real,
# the H100 and H200) only, to save build time on the lease.
# Then copy the JSON from $OUT/results into benchmarks/results/ and commit it.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/gpu-out}
mkdir -p "$OUT/results"
export CONVNET_DATA=${CONVNET_DATA:-$PWD/data}
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
status=0

stage() {  # stage NAME COMMAND...: runs it, its output in $OUT/NAME.log, and prints its tail
  local name=$1
  shift
  echo "== $name: $*"
  local start=$SECONDS
  timeout "${STAGE_TIMEOUT:-540}" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 15 "$OUT/$name.log"
  echo "== $name: exit $rc after $((SECONDS - start)) s"
  [ $rc -eq 0 ] || status=1
  return $rc
}

for what in "$@"; do
  case $what in
    build) stage build python3 -m pip install --no-build-isolation -Cbuild-dir=build/gpu \
           -Ccmake.define.CMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES:-90-real}" -e . || exit 1 ;;
    test) stage test python3 -m pytest -q -m cuda ;;
    sanitize)  # memcheck: the out-of-memory tests make cudaMalloc fail on purpose, so API errors are not reported
      # (convnet checks every call itself); racecheck is slow, so the tests run in 4 pytest-xdist workers
      stage memcheck compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 1 \
        python3 -m pytest -q -m cuda -x
      stage racecheck compute-sanitizer --tool racecheck --error-exitcode 1 python3 -m pytest -q -m cuda -x -n 4 ;;
    bench)
      touch "$OUT/bench-start"  # only this stage's records go to $OUT (the tool brings back 8 files)
      stage bench-seed_cnn python3 benchmarks/bench_train.py --model seed_cnn --device cuda --epochs 3 \
        --batch-size 32 --record
      stage bench-vgg_small python3 benchmarks/bench_train.py --model vgg_small --device cuda --epochs 3 \
        --batch-size 128 --record
      stage bench-vgg_small-tf32 python3 benchmarks/bench_train.py --model vgg_small --device cuda --epochs 3 \
        --batch-size 128 --tf32 --record
      find benchmarks/results -name '*cuda*' -newer "$OUT/bench-start" -exec cp {} "$OUT/results/" \;
      rm "$OUT/bench-start" ;;
    profile)
      for spec in "seed_cnn 32" "vgg_small 128"; do
        read -r model batch <<< "$spec"
        run_epoch=(python3 benchmarks/bench_train.py --model "$model" --device cuda --epochs 1 --batch-size "$batch"
                   --skip-torch)
        if command -v nsys > /dev/null; then
          stage "profile-$model" nsys profile --cuda-graph-trace=node --stats=true --force-overwrite=true \
            -o "build/profile-$model" "${run_epoch[@]}"
        else  # each kernel of 150 launches (3 to 6 steps) past the first 400: time, throughputs, registers
          stage "profile-$model" ncu --graph-profiling node --launch-skip 400 --launch-count 150 --csv --metrics \
            gpu__time_duration.sum,sm__throughput.avg.pct_of_peak_sustained_elapsed,dram__throughput.avg.pct_of_peak_sustained_elapsed,launch__registers_per_thread,launch__grid_size \
            "${run_epoch[@]}"
        fi
      done ;;
    *) echo "unknown stage '$what' (build, test, sanitize, bench, profile)"; exit 2 ;;
  esac
done
exit $status
