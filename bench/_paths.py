"""Where the benchmarks find the shared real data (``../shared/data`` beside the checkout, or one level up)."""

from pathlib import Path

SHARED = next((d / "shared" / "data" for d in Path(__file__).resolve().parents if (d / "shared" / "data").is_dir()),
              Path(__file__).resolve().parents[2] / "shared" / "data")
"""``shared/data`` of the nearest folder above the benchmarks that has one."""
