"""TimeGAN (Yoon, Jarrett and van der Schaar, NeurIPS 2019) in PyTorch, with the reference code's own setup, as the
baseline row of bench/timeseries.py. Written from jsyoon0823/TimeGAN `timegan.py` (TensorFlow 1), not copied:

- five networks of `layers` GRU layers of `hidden` units, each followed by a dense layer: embedder (X → H, sigmoid),
  recovery (H → X, sigmoid), generator (Z → E, sigmoid), supervisor (`layers` − 1 GRU layers, H → next H, sigmoid)
  and discriminator (H → one logit per step);
- the data min-max scaled per feature (the reference's MinMaxScaler), noise Z uniform on [0, 1] per step;
- three phases of `iterations` Adam steps each (defaults 1e-3, batch 128): the autoencoder alone (10·√MSE); the
  supervisor on real embeddings (MSE of the next step); then jointly, two generator and embedder steps per
  discriminator step, the generator loss adversarial (on H_hat and E_hat, γ = 1) + 100·√supervised + 100·(moment
  losses), the embedder's 10·√MSE + 0.1·supervised, and the discriminator stepped only while its loss is above 0.15.

The reference trains 50,000 iterations per phase; `--iterations` says how many ran here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F


class _Recurrent(nn.Module):
    """GRU layers then a dense layer on every step (sigmoid unless `logits`)."""

    def __init__(self, inputs: int, hidden: int, layers: int, outputs: int, logits: bool = False):
        super().__init__()
        self.gru = nn.GRU(inputs, hidden, layers, batch_first=True)
        self.dense = nn.Linear(hidden, outputs)
        self.logits = logits

    def forward(self, x: Tensor) -> Tensor:
        out = self.dense(self.gru(x)[0])
        return out if self.logits else torch.sigmoid(out)


class TimeGAN:
    """Fit with `fit(data)` on (N, T, F) numbers; `sample(n)` gives series in the data's units."""

    def __init__(self, features: int, hidden: int = 24, layers: int = 3, batch: int = 128, seed: int = 0):
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.batch, self.features = batch, features
        self.embedder = _Recurrent(features, hidden, layers, hidden)
        self.recovery = _Recurrent(hidden, hidden, layers, features)
        self.generator = _Recurrent(features, hidden, layers, hidden)  # z has as many dimensions as the data
        self.supervisor = _Recurrent(hidden, hidden, layers - 1, hidden)
        self.discriminator = _Recurrent(hidden, hidden, layers, 1, logits=True)

    def _noise(self, n: int, steps: int) -> Tensor:
        return torch.rand(n, steps, self.features)

    def _batch(self) -> Tensor:
        return self.data[torch.from_numpy(self.rng.choice(len(self.data), self.batch, replace=False))]

    def fit(self, data: np.ndarray, iterations: int, log_every: int = 1000) -> None:
        low = data.min((0, 1))
        self.low, self.span = low, (data - low).max((0, 1)) + 1e-7
        self.data = torch.from_numpy((data - self.low) / self.span).float()
        e_r = [*self.embedder.parameters(), *self.recovery.parameters()]
        g_s = [*self.generator.parameters(), *self.supervisor.parameters()]
        e0_solver, e_solver = torch.optim.Adam(e_r), torch.optim.Adam(e_r)
        g_solver, gs_solver = torch.optim.Adam(g_s), torch.optim.Adam(g_s)
        d_solver = torch.optim.Adam(self.discriminator.parameters())

        def supervised(h: Tensor) -> Tensor:
            return F.mse_loss(self.supervisor(h)[:, :-1], h[:, 1:])

        for step in range(iterations):  # 1. the autoencoder
            x = self._batch()
            loss = F.mse_loss(self.recovery(self.embedder(x)), x)
            e0_solver.zero_grad()
            (10 * loss.sqrt()).backward()
            e0_solver.step()
            if step % log_every == 0:
                print(f"embedding {step}/{iterations}: {loss.sqrt():.4f}", flush=True)
        for step in range(iterations):  # 2. the supervisor, on real embeddings
            x = self._batch()
            loss = supervised(self.embedder(x))
            gs_solver.zero_grad()
            loss.backward()
            gs_solver.step()
            if step % log_every == 0:
                print(f"supervised {step}/{iterations}: {loss.sqrt():.4f}", flush=True)
        bce = nn.BCEWithLogitsLoss()
        for step in range(iterations):  # 3. jointly
            for _ in range(2):
                x = self._batch()
                e_hat = self.generator(self._noise(len(x), x.shape[1]))
                h_hat = self.supervisor(e_hat)
                x_hat = self.recovery(h_hat)
                y_fake, y_fake_e = self.discriminator(h_hat), self.discriminator(e_hat)
                adversarial = bce(y_fake, torch.ones_like(y_fake)) + bce(y_fake_e, torch.ones_like(y_fake_e))
                loss_s = supervised(self.embedder(x))
                moments = ((x_hat.var(0, unbiased=False) + 1e-6).sqrt() - (x.var(0, unbiased=False) + 1e-6).sqrt()
                           ).abs().mean() + (x_hat.mean(0) - x.mean(0)).abs().mean()
                g_solver.zero_grad()
                (adversarial + 100 * loss_s.sqrt() + 100 * moments).backward()
                g_solver.step()
                h = self.embedder(x)
                loss_e = 10 * F.mse_loss(self.recovery(h), x).sqrt() + 0.1 * supervised(h)
                e_solver.zero_grad()
                loss_e.backward()
                e_solver.step()
            x = self._batch()
            e_hat = self.generator(self._noise(len(x), x.shape[1]))
            h = self.embedder(x).detach()
            h_hat = self.supervisor(e_hat).detach()
            y_real, y_fake, y_fake_e = (self.discriminator(v) for v in (h, h_hat, e_hat.detach()))
            loss_d = (bce(y_real, torch.ones_like(y_real)) + bce(y_fake, torch.zeros_like(y_fake))
                      + bce(y_fake_e, torch.zeros_like(y_fake_e)))
            if loss_d.item() > 0.15:  # the reference steps D only while it does not already win
                d_solver.zero_grad()
                loss_d.backward()
                d_solver.step()
            if step % log_every == 0:
                print(f"joint {step}/{iterations}: d {loss_d:.4f}, s {loss_s.sqrt():.4f}, v {moments:.4f}", flush=True)

    @torch.no_grad()
    def sample(self, n: int) -> np.ndarray:
        x_hat = self.recovery(self.supervisor(self.generator(self._noise(n, self.data.shape[1]))))
        return x_hat.double().numpy() * self.span + self.low
