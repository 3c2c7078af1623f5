"""``python -m tenas_automl.cli``: the ``tenas-automl`` command."""

from tenas_automl.cli import main

main()
