#!/usr/bin/env bash
# The GPU path in one command, in under 8 minutes on one GPU: the GPU tests (training on the device resumes
# bit for bit and loads on the CPU, fp16 with its gradient scaler, DDP where several GPUs exist), then the
# VAE and DCGAN training throughput in fp32, bf16 and fp16, the shower surrogate's ms per shower at batch
# 128 and 1024 (CaloGAN's GPU figure: 0.021 ms at batch 128), and benchmarks/gpu_peers.py: the pytorch/examples
# style VAE and DCGAN loops on the GPU, the hand-written CUDA-graph limit of the 784-400-20 VAE at batch 128,
# latentforge's VAE eager and with --compile, and the surrogate's ms per shower at batch 128, 1024 and 16384.
# Prints the GPU's name first; JSON after each part. Each part has its own time limit (sum 7.5 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
$PY -c "import torch, sys; ok = torch.cuda.is_available(); print(torch.cuda.get_device_name(0) if ok else 'no CUDA GPU visible'); sys.exit(0 if ok else 3)"
timeout 120 $PY -m pytest -q -p no:cacheprovider tests/test_device.py tests/test_contract.py
timeout 180 $PY benchmarks/gpu_throughput.py
timeout 150 $PY benchmarks/gpu_peers.py --device cuda
