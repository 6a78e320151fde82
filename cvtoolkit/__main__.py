"""``python -m cvtoolkit``: the same as the ``cvtoolkit`` command."""

import sys

from cvtoolkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
