"""The options of the tabular GAN and the training length and batch they imply for a table of a given size."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ganforge.errors import GanforgeError

# Training length when `epochs` is not given: PASSES_PER_ROOT_ROW·√rows passes over the table (a bigger table holds
# more detail to learn), at most MAX_EPOCHS, and on small tables as many as TRAINING_STEPS steps need. Measured on
# bench/tabular.py (3 seeds; batches of 250 at a learning rate of 4e-4): fair (5,092 rows) with `--target` reached
# quality 0.903 and AUC 0.729 in 60 passes (1,260 steps), where batches of 500 at 2e-4 reached 0.899 and 0.719 in
# 128 passes (1,408 steps) and took 1.5x as long; randhie (16,152 rows) needed more: R² 0.030 in 60 passes, 0.044 in
# 100. The cap is the earlier default for large tables (tables beyond 20,000 rows were not measured).
PASSES_PER_ROOT_ROW = 0.85  # fair: 61 passes, randhie: 109
# Batch size when not given: small tables need the steps of small batches (fair, --target, 3 seeds, learning rate
# 4e-4: batches of 250 reached AUC 0.729 in 60 passes; batches of 500, 0.723 in 90), while a large table gets steps
# enough from its size and a batch of 500 costs less per row (randhie: R² 0.049 in 120 passes of 500 at 4e-4, in the
# time that 100 passes of 250 took, R² 0.044).
STEPS_PER_PASS, MIN_BATCH, MAX_BATCH = 20, 250, 500
MAX_EPOCHS = 120
TRAINING_STEPS = 1_250

@dataclass
class TableGANConfig:
    """Options of the tabular GAN (CTGAN's published settings unless a measurement said otherwise).

    Measured on statsmodels' `fair` (bench/tabular.py): sampling categories from the softmax instead of taking the
    likeliest raised quality at 40 epochs from 0.62 to 0.76; a generator EMA of 0.995 raised it at 100 epochs from
    0.83 to 0.85 (0.999 lagged: 0.80); 200 epochs with the EMA reached 0.93, where CTGAN's 300 reach 0.84. bf16
    autocast on an AMX CPU ran 1.5× faster at the same quality (0.932 vs 0.929). Packs of 5 rows instead of 10: AUC
    0.705 vs 0.691 at equal quality (2 seeds; 2 rows: quality 0.949 but AUC 0.695; 1 row: 2× slower). 300 epochs
    instead of 200 gained little (0.936 / AUC 0.693); see PASSES_PER_ROOT_ROW.
    """

    epochs: int | None = None  # None: about 0.85·√rows passes, more on small tables (see epochs_for)
    batch_size: int | None = None  # None: rows/20 (20 steps a pass), between 250 and 500; see batch_for
    latent_dim: int = 128
    generator_dims: tuple[int, ...] = (256, 256)
    discriminator_dims: tuple[int, ...] = (256, 256)
    pac: int = 5  # rows per critic pack; 5 beat CTGAN's 10 on efficacy (fair: AUC 0.705 vs 0.691)
    dropout: float = 0.5  # in the critic's hidden layers
    lr_g: float = 4e-4  # CTGAN's 2e-4 needed twice the steps for the same efficacy (fair, 90 epochs of 500 rows:
    lr_d: float = 4e-4  # AUC 0.703 at 2e-4, 0.712 at 3e-4, 0.723 at 4e-4)
    betas: tuple[float, float] = (0.5, 0.9)
    weight_decay: float = 1e-6
    gp: float = 10.0
    gp_every: int = 2  # lazy penalty every k-th critic update, weight k·gp (as StyleGAN2's lazy R1): 2 was faster
    # (5 % alone, 17 % on a loaded CPU) at equal quality and efficacy on fair (with --target: 0.889 / AUC 0.723 vs
    # 0.888 / 0.725); 4 lost AUC (0.710)
    d_steps: int = 1
    tau: float = 0.2
    ema: float = 0.995  # generator weight average used for sampling (0 = off)
    precision: str = "auto"  # bf16 autocast where the CPU has AMX, else fp32; or name one
    seed: int = 0
    categorical: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    target: str | None = None  # a column to keep predictable from the others (auxiliary model, CTAB-GAN)
    target_weight: float = 0.5  # fair, 2 seeds: 0.5 kept more quality than 1.0 (0.902 vs 0.888) at equal AUC (0.726)

    def validate(self) -> TableGANConfig:
        """Reject impossible values by name."""
        for name in ("epochs", "batch_size", "latent_dim", "pac", "d_steps", "gp_every"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise GanforgeError(f"option {name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.ema < 1.0:
            raise GanforgeError(f"option ema must be in [0, 1) (0 = off), got {self.ema}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise GanforgeError(f"option precision must be auto, fp32 or bf16, got {self.precision!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise GanforgeError(f"option dropout must be in [0, 1), got {self.dropout}")
        if self.target_weight < 0:
            raise GanforgeError(f"option target_weight must be 0 or more, got {self.target_weight}")
        if self.gp < 0:
            raise GanforgeError(f"option gp must be 0 (off) or more, got {self.gp}")
        for name in ("lr_g", "lr_d", "tau"):
            if not getattr(self, name) > 0:
                raise GanforgeError(f"option {name} must be positive, got {getattr(self, name)}")
        return self

    def to_json(self) -> dict[str, Any]:
        """The options as plain JSON (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def batch_for(self, rows: int) -> int:
        """The batch used on a table of `rows` rows: `batch_size`, or when it is None, about 1/`STEPS_PER_PASS` of
        the rows between `MIN_BATCH` and `MAX_BATCH`; at most the rows, a multiple of `pac`."""
        size = self.batch_size or min(MAX_BATCH, max(MIN_BATCH, rows // STEPS_PER_PASS))
        return max(self.pac, min(size, rows) // self.pac * self.pac)

    def steps_per_epoch(self, rows: int) -> int:
        """Generator steps in one pass over `rows` rows."""
        return max(1, math.ceil(rows / self.batch_for(rows)))

    def epochs_for(self, rows: int) -> int:
        """`epochs`, or when it is None, about `PASSES_PER_ROOT_ROW`·√rows passes (at most `MAX_EPOCHS`), or more
        on small tables: enough passes for `TRAINING_STEPS` steps (a GAN needs steps to learn, whatever the table's
        size)."""
        if self.epochs is not None:
            return self.epochs
        passes = min(MAX_EPOCHS, math.ceil(PASSES_PER_ROOT_ROW * math.sqrt(rows)))
        return max(passes, math.ceil(TRAINING_STEPS / self.steps_per_epoch(rows)))
