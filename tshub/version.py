"""The tshub version: one definition, read by the package, its checkpoints and the build (pyproject)."""

__version__ = "0.1.0"
