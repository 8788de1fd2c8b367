exec > >(tee $OUT/log) 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >/dev/null 2>&1 || echo PIPFAIL
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 CNNTUI_OFFLINE=1
mkdir -p /usr/share/datasets/fashion-mnist && cp .gpu/fmnist/*.gz /usr/share/datasets/fashion-mnist/
timeout 290 bash bench/gpu.sh draw 2>&1 | grep -v Warn
timeout 120 python3 -m bench.run --presets lenet --epochs 10 --rounds 2 --device cuda --dashboard --json $OUT/lenet.json 2>&1 | grep -v Warn
timeout 150 python3 -m bench.dashboard --preset lenet --epochs 10 --rounds 3 --device cuda 2>&1 | tail -6
