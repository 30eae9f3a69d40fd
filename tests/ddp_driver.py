"""Runs `ganforge train ARGS...` as one process of a torchrun job (or alone) and, when training returns, writes
this rank's networks to DUMP/rank{RANK}.safetensors, so tests can compare the ranks' weights; with PIDS set, each
rank first writes its pid to PIDS/rank{RANK}.pid (for a test that interrupts one rank).

Usage: python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_driver.py DUMP ARGS...
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from safetensors.torch import save_file

from ganforge.cli import main
from ganforge.training import loop

dump = Path(sys.argv[1])
rank = int(os.environ.get("RANK", "0"))
if os.environ.get("PIDS"):
    Path(os.environ["PIDS"], f"rank{rank}.pid").write_text(str(os.getpid()))
fit = loop.TrainingLoop.fit


def fit_and_dump(self: loop.TrainingLoop, run_dir: Path | None = None) -> loop.TrainResult:
    result = fit(self, run_dir)
    tensors = {f"{name}.{key}": value.detach().cpu().contiguous() for name, module in self.task.modules().items()
               for key, value in module.state_dict().items()}
    tensors["step"] = __import__("torch").tensor(self.step)
    save_file(tensors, dump / f"rank{rank}.safetensors")
    return result


loop.TrainingLoop.fit = fit_and_dump
raise SystemExit(main(["train", *sys.argv[2:]]))
