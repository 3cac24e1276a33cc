"""``python -m tshub``: the command line (see ``tshub.cli``)."""

from tshub.cli import main

raise SystemExit(main())
