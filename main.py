"""NetBuilder entry point: ``python main.py [check FILE | presets]``."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
