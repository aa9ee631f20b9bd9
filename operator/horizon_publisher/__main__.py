"""``python -m horizon_publisher`` is the ``horizon-publisher`` command."""

import sys

from horizon_publisher.cli import main

sys.exit(main())
