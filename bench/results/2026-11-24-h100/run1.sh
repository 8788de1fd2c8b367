exec > >(tee $OUT/log) 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >/dev/null 2>&1 || echo PIPFAIL
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 CNNTUI_OFFLINE=1 PYTHONWARNINGS=ignore
mkdir -p /usr/share/datasets/fashion-mnist && cp .gpu/fmnist/*.gz /usr/share/datasets/fashion-mnist/
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc
python3 -c "import torch, textual; print(torch.__version__, textual.__version__)"
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_cuda_graph.py tests/test_shapes_trace.py tests/test_stem.py tests/test_pool_relu.py 2>&1 | tail -15
timeout 60 python3 -m bench.pool_variants --preset alexnet 2>&1 | grep -v -i warn
for flags in "" "--no-pool-first" "--no-autotune"; do
  timeout 100 python3 -m bench.step_timeline --preset alexnet --epochs 3 --device cuda $flags 2>&1 | grep -v -i warn
done
timeout 60 python3 -m bench.profile_kernels alexnet --steps 150 --rows 24 2>&1 | grep -v -i warn
