#!/usr/bin/env bash
# The GPU path in one command, in under 8 minutes on one GPU: the GPU tests (training on the device resumes
# bit for bit and loads on the CPU, fp16 with its gradient scaler, DDP where several GPUs exist), then the
# VAE and DCGAN training throughput in fp32, bf16 and fp16, and the shower surrogate's ms per shower at batch
# 128 and 1024 (CaloGAN's GPU figure: 0.021 ms at batch 128). Prints the GPU's name first; JSON last.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
$PY -c "import torch, sys; ok = torch.cuda.is_available(); print(torch.cuda.get_device_name(0) if ok else 'no CUDA GPU visible'); sys.exit(0 if ok else 3)"
timeout 300 $PY -m pytest -q -p no:cacheprovider tests/test_device.py tests/test_contract.py
timeout 240 $PY benchmarks/gpu_throughput.py
