"""``python -m biocoreset_viz``: the ``biocoreset`` command line."""

import sys

from biocoreset_viz.cli import main

sys.exit(main())
