exec > >(tee $OUT/log) 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >/dev/null 2>&1 || echo PIPFAIL
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 CNNTUI_OFFLINE=1 PYTHONWARNINGS=ignore
mkdir -p /usr/share/datasets/fashion-mnist && cp .gpu/fmnist/*.gz /usr/share/datasets/fashion-mnist/
git log --oneline -1 2>/dev/null; python3 -c "import triton; print('triton', triton.__version__)"
timeout 150 python3 -m pytest -q -x -p no:cacheprovider tests/test_pool_relu.py tests/test_autotune_once.py tests/test_cuda_graph.py tests/test_stem.py tests/test_pool_kernels.py 2>&1 | grep -v -i warn | tail -25
timeout 60 python3 -m bench.pool_variants --preset alexnet 2>&1 | grep -v -i warn
for flags in "" "--no-fused"; do
  timeout 100 python3 -m bench.step_timeline --preset alexnet --epochs 3 --device cuda $flags 2>&1 | grep -v -i warn
done
