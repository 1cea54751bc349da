import sys

from ganscape.cli import main

sys.exit(main())
