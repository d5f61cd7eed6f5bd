"""Imports every built-in recipe module so that each registers itself."""

from scenes import movi_a, movi_b, movi_c, movi_d, movi_e, movi_f  # noqa: F401
