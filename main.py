"""NetBuilder entry point: ``python main.py`` opens the window (optionally a FILE or
presets:NAME); ``python main.py COMMAND`` runs check, presets, train, evaluate or export
headless (``--help`` on each)."""

import sys

# Nothing Qt at this level: the training process is spawned and re-imports this script, and
# PySide6 loaded there slowed training by 5-15% (the GUI is imported by app.cli on demand).
from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
