"""orchestrator: evidence for KVM MMU patches from nested guests."""

__version__ = "0.1.0"
