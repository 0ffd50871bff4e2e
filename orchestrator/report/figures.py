"""matplotlib without a display, and a figure as an inline PNG."""

from __future__ import annotations

import base64
import io
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (imported when a plot is made:
    it costs a second of start-up that no other command should pay)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_base64(fig: Any, dpi: int = 90, tight: bool = False) -> str:
    """The figure as base64 PNG for a data: URI; the figure is closed.
    tight: crop to what is drawn, text outside the axes included."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, **({"bbox_inches": "tight", "pad_inches": 0.08} if tight else {}))
    pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode()
