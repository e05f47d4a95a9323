"""``python -m industry_expert.cli``: the same as ``expert``."""

import sys

from . import main

sys.exit(main())
