"""``python -m server serve|token ...``: the fine-tune service's commands (``tshub serve`` when installed)."""

import sys

from server.cli import main

sys.exit(main())
