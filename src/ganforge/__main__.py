"""`python -m ganforge` (and `torchrun -m ganforge`): the command line."""

from ganforge.cli import main

raise SystemExit(main())
