import sys

from biocoreset_viz.cli import main

sys.exit(main())
