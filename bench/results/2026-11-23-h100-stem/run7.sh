exec > >(tee $OUT/log) 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >/dev/null 2>&1 || echo PIPFAIL
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 CNNTUI_OFFLINE=1
mkdir -p /usr/share/datasets/fashion-mnist && cp .gpu/fmnist/*.gz /usr/share/datasets/fashion-mnist/
timeout 60 python3 -m pytest -q -x -p no:cacheprovider tests/test_stem.py 2>&1 | grep -v -i warn | tail -30
timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_cuda_graph.py tests/test_shapes_trace.py 2>&1 | tail -3
timeout 80 python3 -m bench.stem_conv 2>&1 | grep -v Warn
timeout 50 python3 -m bench.profile_kernels alexnet --steps 150 --rows 16 2>&1 | grep -v -i warn
timeout 380 python3 -m bench.run --presets alexnet --epochs 10 --rounds 2 --device cuda --dashboard --json $OUT/alexnet.json 2>&1 | grep -v Warn
