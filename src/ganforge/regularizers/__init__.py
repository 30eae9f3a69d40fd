"""Regularisers, each a small piece the trainer switches on by option:

- `penalties`: R1 (real), R2 (generated) and the WGAN gradient penalty, optionally lazy (every k steps, scaled by k);
- `augment`: DiffAugment, the same differentiable colour/translation/cutout family for real and generated images;
- `ema`: an exponential moving average of the generator's weights, used for sampling and evaluation;
- `spectral`: spectral normalisation of the discriminator (PyTorch's parametrization);
- instance noise and one-sided label smoothing live in the trainer and the cross-entropy losses.
"""
