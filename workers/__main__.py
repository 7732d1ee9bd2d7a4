"""`python -m workers ...` is the `aristobot` command."""

import sys

from workers.cli import main

sys.exit(main())
