"""``python -m callstream``: the same as the ``callstream`` command."""

import sys

from callstream.cli import main

sys.exit(main())
