"""Live diagnosis of the known troubles of GAN training, in words a user understands."""

from ganforge.diagnostics.monitor import Event, Finding, HealthMonitor, Observation

__all__ = ["Event", "Finding", "HealthMonitor", "Observation"]
