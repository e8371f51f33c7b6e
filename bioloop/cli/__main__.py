import sys

from bioloop.cli import main

sys.exit(main())
