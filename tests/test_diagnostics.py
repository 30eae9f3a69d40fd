"""The health monitor on constructed observation streams, and on real runs: planted failures and a healthy run."""

import math

import pytest

import ganforge
from ganforge.diagnostics import HealthMonitor, Observation
from ganforge.training.run_folder import RunFolder


def healthy(step, **changes):
    values = dict(step=step, d_loss=1.2, g_loss=0.9, d_real=0.6, d_fake=0.4, g_grad_norm=5.0, d_grad_norm=3.0,
                  diversity=0.95, movement=0.2)
    values.update(changes)
    return Observation(**values)


def run(monitor, observations):
    events = []
    for observation in observations:
        events += [(e.kind, e.finding.name, e.finding.step, e.finding.evidence) for e in monitor.observe(observation)]
    return events


def test_a_healthy_stream_raises_nothing():
    monitor = HealthMonitor("nonsaturating", warmup=100, patience=150)
    wobble = [healthy(s, d_fake=0.4 + 0.05 * math.sin(s), g_grad_norm=5 + math.cos(s)) for s in range(50, 3000, 50)]
    assert run(monitor, wobble) == []


def test_discriminator_wins_starts_after_patience_and_ends():
    monitor = HealthMonitor("minimax", warmup=100, patience=150)
    stream = [healthy(s) for s in range(50, 300, 50)]
    stream += [healthy(s, d_fake=0.001, d_real=0.999, g_grad_norm=0.01) for s in range(300, 600, 50)]
    stream += [healthy(s) for s in range(600, 700, 50)]
    events = run(monitor, stream)
    assert [(kind, name, step) for kind, name, step, _ in events] == [
        ("start", "discriminator_wins", 450), ("end", "discriminator_wins", 600)]
    evidence = events[0][3]
    assert "stayed below 0.02 for 150 steps" in evidence and "fell 500× from its peak" in evidence
    assert monitor.active == {}


def test_remedy_depends_on_the_loss():
    for loss, remedy in (("minimax", "non-saturating loss"), ("nonsaturating", "discriminator's learning rate")):
        monitor = HealthMonitor(loss, warmup=0, patience=0)
        monitor.observe(healthy(10, d_fake=0.001))
        assert remedy in monitor.active["discriminator_wins"].remedy


def test_mode_collapse_by_spread_and_by_modes():
    monitor = HealthMonitor("nonsaturating", warmup=0, patience=100)
    events = run(monitor, [healthy(s, diversity=0.05) for s in range(50, 250, 50)])
    assert events[0][1] == "mode_collapse" and "20.0× less spread" in events[0][3]
    monitor = HealthMonitor("nonsaturating", warmup=0, patience=100)
    events = run(monitor, [healthy(s, modes_reached=2, modes_total=8) for s in range(50, 250, 50)])
    assert events[0][1] == "mode_collapse" and "2 of 8 modes" in events[0][3]
    # few modes but a new one at every check: a generator still spreading out, not a collapse
    growing = HealthMonitor("nonsaturating", warmup=0, patience=100)
    assert run(growing, [healthy(s, modes_reached=s // 50, modes_total=25) for s in range(50, 500, 50)]) == []


def test_divergence_on_nan_and_on_exploding_gradients():
    monitor = HealthMonitor("nonsaturating", warmup=10**6, patience=10**6)  # divergence ignores the warm-up
    events = run(monitor, [healthy(50), healthy(100, d_loss=math.nan)])
    assert events[0][:3] == ("start", "divergence", 100) and "NaN" in events[0][3]
    monitor = HealthMonitor("nonsaturating", warmup=0, patience=0)
    events = run(monitor, [healthy(s) for s in range(50, 400, 50)] + [healthy(400, d_grad_norm=3e5)])
    assert events[-1][1] == "divergence" and "100,000× its usual level" in events[-1][3]


def test_a_new_training_phase_starts_its_own_gradient_history():
    # Super-resolution trains on L1, then on L1 + GAN + perceptual: G's gradients grow ~100× at the switch by
    # design (144× in the SR benchmark), which is not an explosion; the same jump inside one phase is.
    pixels = [healthy(s, g_grad_norm=0.04, phase="pixels") for s in range(50, 400, 50)]
    monitor = HealthMonitor("nonsaturating", warmup=0, patience=0)
    assert run(monitor, [*pixels, *(healthy(s, g_grad_norm=6.0, phase="gan") for s in range(400, 800, 50))]) == []
    monitor = HealthMonitor("nonsaturating", warmup=0, patience=0)
    events = run(monitor, [*pixels, healthy(400, g_grad_norm=6.0, phase="pixels")])
    assert events[-1][1] == "divergence" and "150× its usual level" in events[-1][3]


def test_oscillation_and_stall():
    monitor = HealthMonitor("nonsaturating", warmup=0, patience=0)
    swings = [healthy(50 * (i + 1), d_fake=0.05 if i % 2 else 0.95) for i in range(9)]
    assert any(name == "oscillation" for _, name, _, _ in run(monitor, swings))
    monitor = HealthMonitor("nonsaturating", warmup=0, patience=100)
    stalled = [healthy(s, movement=1e-6, g_grad_norm=1e-8) for s in range(50, 300, 50)]
    assert any(name == "generator_stalled" for _, name, _, _ in run(monitor, stalled))


@pytest.mark.slow
def test_a_planted_collapse_on_ring_is_diagnosed(tmp_path):
    # The original minimax loss against a discriminator with 5 steps per G step and a 30× larger learning rate.
    result = ganforge.train("ring", precision="fp32", loss="minimax", d_steps=5, lr_d=3e-3, lr_g=1e-4, steps=800,
                            seed=0,
                            out=tmp_path / "r", progress=False)
    events = RunFolder(result.run_dir).read_diagnoses()
    started = {e["name"] for e in events if e["event"] == "start"}
    assert started & {"mode_collapse", "discriminator_wins"}
    assert all(e["evidence"] and e["remedy"] for e in events)
