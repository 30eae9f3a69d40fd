"""A `SampleTask`'s regularisers, checked against its loss and data: what D sees (DiffAugment, adaptive augmentation,
annealed instance noise; the same for real and generated samples) and the regularisation phase of a D step (R1, R2,
the WGAN penalty), kept apart from the main loss as in stylegan2-ada's loss."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import Tensor

from ganforge.config import TrainConfig, augment_probability
from ganforge.data import IMAGE, Dataset
from ganforge.diagnostics.monitor import SIGN_LOSSES
from ganforge.errors import GanforgeError
from ganforge.losses import AdversarialLoss
from ganforge.regularizers.ada import AUTO_LIMIT, AdaptiveAugment
from ganforge.regularizers.augment import diff_augment, parse_policy
from ganforge.regularizers.penalties import r1_penalty, wgan_gradient_penalty
from ganforge.training.distributed import Processes

log = logging.getLogger("ganforge")


class Regularisation:
    """The regularisers `config` asks for, refused in one line where they do not fit the loss or the data."""

    def __init__(self, config: TrainConfig, loss: AdversarialLoss, dataset: Dataset, processes: Processes):
        self.config = config
        if config.gp is None:
            config.gp = 10.0 if loss.implied_penalty == "gp" else 0.0
        if config.label_smoothing:
            if not loss.probabilistic:
                raise GanforgeError(f"option --label-smoothing works with the cross-entropy losses (minimax, "
                                    f"nonsaturating), not {config.loss}")
            loss.real_label = 1.0 - config.label_smoothing
        self.augment_policy = parse_policy(config.augment) if config.augment else []
        if self.augment_policy and dataset.kind != IMAGE:
            raise GanforgeError("option --augment (DiffAugment) applies to images, not vector data")
        self.ada = adaptive_augmentation(config, dataset, processes)
        if config.batch_size % config.pack:
            raise GanforgeError(f"option --pack {config.pack} needs --batch-size divisible by it, "
                                f"got {config.batch_size}")

    def augments(self) -> bool:
        """Whether what D sees is augmented (ADA above 0, or DiffAugment)."""
        return bool(self.augment_policy) or (self.ada is not None and self.ada.p > 0)

    def view(self, x: Tensor, step: int) -> Tensor:
        """What D sees: DiffAugment and annealed instance noise, the same for real and generated samples."""
        if self.augment_policy:
            x = diff_augment(x, self.augment_policy)
        if self.ada is not None:
            x = self.ada(x)
        if self.config.instance_noise:
            sigma = self.config.instance_noise * max(0.0, 1.0 - step / max(1, self.config.steps))
            x = x + sigma * torch.randn_like(x)
        return x

    def penalties(self, judge: Callable[[Tensor, Tensor | None], tuple[Tensor, Tensor | None]],
                  real_labels: Tensor | None, real_in: Tensor, fake_in: Tensor, real_logits: Tensor,
                  fake_logits: Tensor) -> Tensor:
        """The regularisation phase of a D step: R1, R2 and the WGAN penalty, scaled for lazy application.
        `judge(x, labels)` gives D's logits first."""
        cfg = self.config
        total = torch.zeros((), device=real_logits.device)
        if cfg.r1:
            total = total + cfg.r1 * r1_penalty(real_logits, real_in)
        if cfg.r2:
            total = total + cfg.r2 * r1_penalty(fake_logits, fake_in)
        if cfg.gp:
            # interpolates are judged as the real samples' class (as StudioGAN does for conditional WGAN-GP)
            def critic(x: Tensor) -> Tensor:
                return judge(x, real_labels)[0]

            total = total + cfg.gp * wgan_gradient_penalty(critic, real_in, fake_in, pack=cfg.pack)
        return total * cfg.lazy_every


def adaptive_augmentation(config: TrainConfig, dataset: Dataset, processes: Processes) -> AdaptiveAugment | None:
    """ADA from `--augment-p`: `auto` turns it on for image folders of fewer than 10,000 images (and says so)."""
    wanted = augment_probability(config.augment_p)
    folder = dataset.kind == IMAGE and "files" in dataset.info
    if wanted == "auto":
        if not folder or len(dataset) >= AUTO_LIMIT:
            return None
        if config.loss not in SIGN_LOSSES:
            log.info("adaptive augmentation stays off: the %s loss's D output has no sign to steer it by",
                     config.loss)
            return None
        log.info("adaptive augmentation on: %s images are few enough for D to memorise them (fewer than %s); "
                 "--augment-p off turns it off", f"{len(dataset):,}", f"{AUTO_LIMIT:,}")
        wanted = "ada"
    if wanted == "off":
        return None
    if dataset.kind != IMAGE:
        raise GanforgeError("option --augment-p (adaptive augmentation) applies to images, not vector data")
    if wanted == "ada":
        if config.loss not in SIGN_LOSSES:
            raise GanforgeError(f"option --augment-p ada steers by the sign of D's output, which the {config.loss} "
                                f"loss does not give; use --loss {' / '.join(SIGN_LOSSES)} or a fixed --augment-p")
        return AdaptiveAugment(0.0, adaptive=True, reduce=processes.sum_, world=processes.world)
    return AdaptiveAugment(float(wanted), adaptive=False)
