"""Machine layer: one QEMU process under our control, and what the host can do."""
