"""Where things live: the project tree, the cache, the results."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import UserError

_MARKERS = ("kernels", "images", "configs")


def expand_user(text: str) -> Path:
    """`text` with a leading ~ or ~user expanded; a ~user that does not
    exist is a UserError naming it (pathlib raises a bare RuntimeError)."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        raise UserError(f"{text}: no such user {text.split('/')[0]!r} to expand") from None


def find_project(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` holding kernels/, images/ and
    configs/. Falls back to the source checkout this package lives in."""
    here = (start or Path.cwd()).resolve()
    for cand in (here, *here.parents):
        if all((cand / m).is_dir() for m in _MARKERS):
            return cand
    pkg_root = Path(__file__).resolve().parent.parent
    if all((pkg_root / m).is_dir() for m in _MARKERS):
        return pkg_root
    raise UserError(
        f"no orchestrator project (a folder with {', '.join(_MARKERS)}/) at or above {here}"
    )


def cache_root() -> Path:
    """$ORCHESTRATOR_CACHE, else $XDG_CACHE_HOME/orchestrator, else ~/.cache."""
    explicit = os.environ.get("ORCHESTRATOR_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "orchestrator"


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def kernels(self) -> Path:
        return self.root / "kernels"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def configs(self) -> Path:
        return self.root / "configs"

    @property
    def results(self) -> Path:
        return self.root / "results"

    def kernel_recipe(self, name: str) -> Path:
        """A recipe by name in kernels/, or by path (absolute once loaded;
        see KernelVariant.recipe) for recipes kept elsewhere."""
        if is_recipe_path(name):
            return Path(name)
        return self.kernels / f"{name}.yaml"

    def image_recipe(self, name: str) -> Path:
        return self.images / f"{name}.yaml"


def is_recipe_path(name: str) -> bool:
    return "/" in name and name.endswith(".yaml")


def display(path: Path) -> str:
    """A path as short as is unambiguous, for messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
