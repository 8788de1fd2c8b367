#!/usr/bin/env bash
# Every GPU figure of docs/PERFORMANCE.md, in parts that each fit a 10-minute call:
#
#   bash bench/gpu.sh tests       # the CUDA tests (graph vs eager, shapes, stem, fused pools): ~1 min
#   bash bench/gpu.sh lenet       # LeNet vs d2l, dashboard open, 10 epochs x 2 rounds: ~2 min
#   bash bench/gpu.sh alexnet     # AlexNet vs d2l, dashboard open, 10 epochs x 2 rounds: ~7 min
#   bash bench/gpu.sh dashboard   # engine / headless / dashboard: AlexNet and LeNet: ~6 min
#   bash bench/gpu.sh draw        # drawing vs idle dashboard within one run, UI thread share: ~5 min
#   bash bench/gpu.sh profile     # kernel profiles of LeNet and AlexNet steady state: ~2 min
#   bash bench/gpu.sh stem        # the first convolution, cuDNN vs im2col + GEMM, per preset: ~1 min
#   bash bench/gpu.sh pools       # AlexNet's ReLU + max-pool pairs: as written, swapped, fused, compiled: ~1 min
#   bash bench/gpu.sh timeline    # AlexNet's steps timed one by one, fused pools and not: ~1 min
#
# Needs a CUDA GPU, Debian's Fashion-MNIST files in /usr/share/datasets/fashion-mnist (or
# $CNNTUI_DATA) and cnntui's dependencies importable. Results go to ${OUT:-bench-gpu-out}/.
set -euo pipefail
part="${1:?which part: tests, lenet, alexnet, dashboard, draw, stem, pools, timeline or profile}"
out="${OUT:-bench-gpu-out}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 CNNTUI_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
case "$part" in
  tests)
    python3 -m pytest -q -p no:cacheprovider tests/test_cuda_graph.py tests/test_shapes_trace.py \
      tests/test_stem.py tests/test_pool_relu.py tests/test_pool_kernels.py tests/test_autotune_once.py ;;
  lenet|alexnet)
    python3 -m bench.run --presets "$part" --epochs 10 --rounds 2 --device cuda --dashboard \
      --json "$out/$part-dashboard-10ep.json" ;;
  dashboard)
    python3 -m bench.dashboard --preset alexnet --epochs 10 --rounds 2 --device cuda
    python3 -m bench.dashboard --preset lenet --epochs 10 --rounds 3 --device cuda ;;
  draw)
    python3 -m bench.draw_cost --preset alexnet --epochs 10 --phase 2 --rounds 2 --device cuda
    python3 -m bench.draw_cost --preset lenet --epochs 60 --phase 1 --rounds 3 --device cuda
    python3 -m bench.ui_share --preset alexnet --epochs 3 --device cuda ;;
  stem)
    python3 -m bench.stem_conv ;;
  pools)
    python3 -m bench.pool_variants --preset alexnet ;;
  timeline)
    python3 -m bench.step_timeline --preset alexnet --epochs 3 --device cuda
    python3 -m bench.step_timeline --preset alexnet --epochs 3 --device cuda --no-fused ;;
  profile)
    python3 -m bench.profile_kernels lenet --steps 1000 --set epochs=5
    python3 -m bench.profile_kernels alexnet --steps 150 ;;
  *)
    echo "unknown part $part" >&2; exit 2 ;;
esac 2>&1 | tee "$out/$part.log"
