"""The errors the engine raises: those of `stepline_runner.errors`, which the
store raises too (see there why they live beneath both)."""

from ..errors import *  # noqa: F403 - this module is that one, under the engine's roof
from ..errors import __all__ as __all__
