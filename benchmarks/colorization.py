"""Colorization: every method at the same step budget on the same test photographs.

The ``photos`` dataset at 16×16 (``--size 16``: the 32×32 patches of photographs shrunk 4×,
shrunk 2× more; 2,400 training patches of six photographs, the test patches from two other
photographs), ``--task colorization`` (condition: the BT.601 luminance, 256 levels). Methods:
the gray copy (``R = G = B = Y``), the L2 regression network (its one answer) and every
registered image-conditional generative model, each trained for ``--steps`` optimiser steps at
batch ``--batch-size`` on one thread (fp32, seed 0), then scored on the first ``--images`` test
patches with 8 answers each (PSNR/SSIM of one answer and of the mean/mode, consistency of the
answers' luminance with the gray input, diversity) and by the conditional NLL of the RGB target
in bits/dim for the models with a density. The photos are unlabelled: no classifier scores.

    OMP_NUM_THREADS=1 python benchmarks/colorization.py --steps 1000

Writes ``benchmarks/results/colorization-photos.json`` and the figure
``benchmarks/results/figures/colorization-photos.png`` (input | gray | regression | 3 samples
of each generative model | truth).
"""

from __future__ import annotations

import genzoo
from superres import arguments, run


def main() -> None:
    args = arguments(__doc__, steps=1000, images=128)
    data = genzoo.load_dataset("photos", size=16, task="colorization")
    run(data, "colorization-photos", args)


if __name__ == "__main__":
    main()
