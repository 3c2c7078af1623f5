"""Import guard for the NNI integration, and the few NNI quirks it works around.

The core package never imports NNI. :func:`require_nni` is called first by
:mod:`tenas_automl.integrations.nni`; without NNI 3.0 and pytorch-lightning it
raises :class:`MissingDependencyError` (a :class:`TenasError` and an
``ImportError``) that says what to install.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

from tenas_automl.errors import TenasError

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'tenas-automl[nni]'"


class MissingDependencyError(TenasError, ImportError):
    """An optional dependency (here NNI or pytorch-lightning) is not installed."""


@contextlib.contextmanager
def quiet_nni_import() -> Iterator[None]:
    """Hide the RuntimeWarnings NNI 3.0 emits on import with torch >= 2.5 (torch.nn.Buffer
    and friends "not a nn.Module"); they are harmless for the hub spaces used here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"nni\.")
        warnings.filterwarnings("ignore", message=r".*is found to be not a nn\.Module.*")
        yield


def require_nni() -> None:
    """Import NNI's NAS stack, or raise :class:`MissingDependencyError` with the install command."""
    try:
        # nni.nas.nn.pytorch (model spaces, hub spaces) imports pytorch-lightning.
        import pytorch_lightning  # noqa: F401

        with quiet_nni_import():
            import nni
            import nni.nas.nn.pytorch  # noqa: F401
            import nni.nas.strategy  # noqa: F401
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise MissingDependencyError(
            f"the NNI integration needs nni 3.0 and pytorch-lightning, but importing them failed "
            f"({missing}); install them with: {INSTALL_HINT}"
        ) from exc
    version = str(getattr(nni, "__version__", "0"))
    if not version.startswith("3."):
        raise MissingDependencyError(f"the NNI integration needs nni 3.x, found nni {version}; install it with: {INSTALL_HINT}")


def use_json_checkpoints() -> None:
    """Make NNI save experiment checkpoints as JSON instead of with ``torch.save``.

    NNI's default ``TorchSerializer`` reloads with ``torch.load``, which refuses
    plain Python objects since torch 2.6 (``weights_only=True``), so
    ``NasExperiment.resume`` fails. The states of the strategies here are plain
    JSON, so switching is safe. Only the default serializer is replaced, and
    only if it is still NNI's torch one.
    """
    from nni.nas.utils import serializer as ser

    current = ser._default_serializer  # None until NNI first needs one
    if current is None or isinstance(current, ser.TorchSerializer):
        ser.set_default_serializer(ser.JsonSerializer())
        logger.debug("NNI checkpoints switched to JsonSerializer (torch.load weights_only trap)")


@contextlib.contextmanager
def nni_log_level(level: int) -> Iterator[None]:
    """Temporarily set the level of NNI's own logger (it prints INFO lines to stdout)."""
    nni_logger = logging.getLogger("nni")
    old = nni_logger.level
    nni_logger.setLevel(level)
    try:
        yield
    finally:
        nni_logger.setLevel(old)
