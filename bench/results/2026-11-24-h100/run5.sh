exec > >(tee $OUT/log) 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >/dev/null 2>&1 || echo PIPFAIL
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 CNNTUI_OFFLINE=1 PYTHONWARNINGS=ignore
mkdir -p /usr/share/datasets/fashion-mnist && cp .gpu/fmnist/*.gz /usr/share/datasets/fashion-mnist/
timeout 60 python3 -m bench.step_timeline --preset alexnet --epochs 2 --device cuda 2>&1 | grep -v -i warn | head -14
timeout 200 python3 -m bench.dashboard --preset alexnet --epochs 10 --rounds 2 --modes headless,dashboard --device cuda 2>&1 | grep -v -i warn | tail -9
