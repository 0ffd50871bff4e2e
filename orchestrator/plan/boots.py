"""Which L1 boot each repetition of a warm-started group is measured in.

A warm start restores a saved L1 for every cell of its group (warm.py).
Repetitions restored from one saved L1 share everything that boot decided
(page placement, which pages the page cache holds, KVM's state at the
save), so they vary less than two runs do: what varies from run to run is
the boot. Each group's repetitions are therefore spread over `templates`
independent boots, and the statistics take one sample per boot
(docs/statistics.md).

Repetition r of R planned goes to boot (r - 1) mod K + 1. With K = R (the
default) every repetition has its own boot. A repetition that
`run --until-decided` adds (r > R) gets a new boot of its own, K + r - R,
because only a new boot adds a sample.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Boots:
    templates: int | None = None  # K; None: as many as planned repetitions
    planned: int = 0  # R; 0: unknown, every repetition its own boot

    @property
    def per_group(self) -> int:
        """K: the boots a group's planned repetitions spread over."""
        if not self.planned:
            return self.templates or 0
        return min(self.templates or self.planned, self.planned)

    def index(self, rep: int) -> int:
        """The boot (1-based, within its group) repetition `rep` runs in."""
        k = self.per_group
        if not k or not self.planned:
            return (rep - 1) % k + 1 if k else rep
        if rep <= self.planned:
            return (rep - 1) % k + 1
        return k + rep - self.planned
