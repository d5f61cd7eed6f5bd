"""Imports every built-in recipe module so that each registers itself."""

from scenes import movi_a  # noqa: F401
