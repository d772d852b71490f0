"""torch is an extra (`pip install 'facesim[train]'`): training needs it, the gallery never does."""

from __future__ import annotations

import importlib.util

from facesim.errors import FacesimError

TRAIN_EXTRA_HINT = "pip install -e '.[train]'"


def require_torch() -> None:
    """One line naming the extra, instead of an ImportError from deep inside training."""
    if importlib.util.find_spec("torch") is None:
        raise FacesimError(f"training needs torch, which the default install leaves out: {TRAIN_EXTRA_HINT}")
