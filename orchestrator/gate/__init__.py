"""Gate layer: the kernel's own KVM selftests run in L1, per kernel and tdp
mode, before anything is measured; only new failures count."""
