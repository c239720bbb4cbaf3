"""The desktop bundle's program (packaging/vocoscope.spec): the `vocoscope` command, as the wheel's script runs it."""

import sys

from engine.cli import main

sys.exit(main())
