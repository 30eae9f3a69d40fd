#!/bin/sh
# Every GPU check in one run, for a device machine (torch >= 2.11 with CUDA; ganforge installed there with
# `pip install --no-deps -e .`, so the CPU torch pin is not pulled). Figures go under $OUT:
#   throughput.txt  bench/throughput.py --device cuda: dcgan and fastgan, bf16 and fp32, img/s beside the bare loop
#                   and the pytorch/examples DCGAN loop, and the share of the GPU's bf16 peak
#   ddp.txt         the multi-process tests (gloo, CPU processes), as CI runs them
#   nvidia-smi.txt  the GPU
# Usage: OUT=/some/folder sh bench/gpu.sh
set -eu
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
python bench/throughput.py --device cuda --sizes 64 128 --models dcgan fastgan --precision bf16 fp32 \
    --batch 128 --steps 50 --warmup 10 --rounds 3 2>&1 | tee "$OUT/throughput.txt"
python -m pytest -q -p no:cacheprovider tests/test_distributed.py 2>&1 | tee "$OUT/ddp.txt"
