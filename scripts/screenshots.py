"""Screenshots of the hub's main pages for the README, taken by the browser test itself.

It runs ``tests/test_web.py::test_the_whole_path_in_a_real_browser`` (a real ``tshub serve``, headless Chromium,
the real GunPoint files) with ``TSHUB_SCREENSHOTS`` set, so the pictures show exactly the path the test checks,
then re-encodes each PNG with a 256-colour palette to keep the repository small.

    .venv/bin/python scripts/screenshots.py                 # writes docs/screenshots/*.png
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/test_web.py::test_the_whole_path_in_a_real_browser"


def shrink(path: Path) -> None:
    """Re-encode as an adaptive 256-colour palette PNG (screenshots of text lose nothing visible)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNG files")
    args = ap.parse_args()
    out = args.out.resolve()
    env = {**os.environ, "TSHUB_SCREENSHOTS": str(out), "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", TEST], cwd=ROOT, env=env, check=False
    )
    if run.returncode:
        return run.returncode
    shots = sorted(out.glob("*.png"))
    if not shots:
        print("no screenshots written: the test was skipped (see its reason above)", file=sys.stderr)
        return 1
    for path in shots:
        shrink(path)
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size / 1000:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
