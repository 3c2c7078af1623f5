"""tenas-automl: training-free neural architecture search (TE-NAS, NASWOT, TEG-NAS)."""

from __future__ import annotations

__version__ = "0.1.0"

from tenas_automl.errors import TenasError
from tenas_automl.spaces import get_space

__all__ = ["TenasError", "__version__", "get_space"]
