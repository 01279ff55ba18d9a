"""PixelCNN++: cached sampling vs the cheapest naive step (network pass only, no 256-level table).

OMP_NUM_THREADS=1 python benchmarks/sampling_network_only.py
"""

import time

import torch

import genzoo

torch.set_num_threads(1)
torch.manual_seed(0)
model = genzoo.create_model("pixelcnn_pp", shape=(1, 28, 28), levels=256).eval()
x = torch.zeros(16, 1, 28, 28)
with torch.no_grad():
    model.mixture_params(x)  # warm-up
    start = time.perf_counter()
    for _ in range(5):
        model.mixture_params(x)
    network = (time.perf_counter() - start) / 5
start = time.perf_counter()
model.sample(16, generator=torch.Generator().manual_seed(0), method="cached")
cached = time.perf_counter() - start
print(
    f"network pass {network * 1000:.1f} ms x 784 = {network * 784:.1f} s; "
    f"cached {cached:.2f} s; ratio {network * 784 / cached:.0f}x"
)
