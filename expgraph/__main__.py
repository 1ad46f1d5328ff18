import sys

from expgraph.cli import main

sys.exit(main())
