"""Where runs are stored (torch-free, so the GUI can ask at start-up)."""

from __future__ import annotations

import os
from pathlib import Path


def default_runs_root() -> Path:
    """``$NETBUILDER_RUNS_DIR``, else ``runs`` in the user data folder."""
    if os.environ.get("NETBUILDER_RUNS_DIR"):
        return Path(os.environ["NETBUILDER_RUNS_DIR"])
    import platformdirs

    return Path(platformdirs.user_data_dir("NetBuilder", appauthor=False)) / "runs"
