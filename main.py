"""NetBuilder entry point: ``python main.py [check FILE | presets]``."""

import sys

# Nothing Qt at this level: the training process is spawned and re-imports this script, and
# PySide6 loaded there slowed training by 5-15% (the GUI is imported by app.cli on demand).
from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
