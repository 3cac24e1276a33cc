"""The errors of checkpoint I/O and model resolution; the CLI reports any ``HubError`` as a one-line failure."""

from __future__ import annotations


class HubError(Exception):
    """Base class: something about a checkpoint, a model id or the Hub that the user can fix."""


class InvalidModelIdError(HubError, ValueError):
    """A string that is not a ``"<SOURCE>/<arch>"`` model id."""


class CheckpointError(HubError, ValueError):
    """A checkpoint folder that cannot be loaded: missing files, corrupted weights, wrong keys, unknown format."""


class ModelNotFoundError(HubError, FileNotFoundError):
    """Nothing (folder, local store, Hub) resolves a name; the message says where tshub looked."""
