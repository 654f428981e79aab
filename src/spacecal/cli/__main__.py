"""`python -m spacecal.cli`: the same as the `spacecal` console script."""

import sys

from spacecal.cli.main import main

sys.exit(main())
