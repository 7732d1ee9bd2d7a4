"""Example strategies; `EXAMPLE_CODE` is what the dashboard's editor starts with."""

from pathlib import Path

EXAMPLE_PATH = Path(__file__).with_name("sma_cross.py")
EXAMPLE_CODE = EXAMPLE_PATH.read_text(encoding="utf-8")
