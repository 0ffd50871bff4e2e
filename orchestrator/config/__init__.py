"""Config layer: YAML with marks, typed frozen models, validation on load."""

from orchestrator.config.load import Loaded, load_experiment, load_image_recipe, load_kernel_recipe

__all__ = ["Loaded", "load_experiment", "load_image_recipe", "load_kernel_recipe"]
