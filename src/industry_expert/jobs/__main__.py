"""``python -m industry_expert.jobs --workspace WS``: an ``expert worker`` (``worker.main``)."""

import sys

from .worker import main

sys.exit(main())
