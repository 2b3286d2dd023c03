"""``python -m deepshadows_lib.cli``: the ``deepshadows`` command line."""

import sys

from . import main

sys.exit(main())
