"""The offline asset library: procedural primitives, pybullet_data objects and user files, each
with a canonical frame, a collision shape for PyBullet and a volume. No Blender; PyBullet only for
V-HACD (``sim.library.collision``). Start with ``list_assets`` and ``get_asset``.
"""

from sim.library.cache import cache_dir
from sim.library.catalog import AssetInfo, get_asset, is_held_out, list_assets
from sim.library.collision import COLLISION_KINDS

__all__ = ["AssetInfo", "COLLISION_KINDS", "cache_dir", "get_asset", "is_held_out", "list_assets"]
