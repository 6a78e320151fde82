"""Sub-commands of the ``cvtoolkit`` command line (one module each)."""
