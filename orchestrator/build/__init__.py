"""Build layer: kernels and guest images from recipes, cached by content."""
