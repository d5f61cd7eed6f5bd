"""Exception types of scenesim.

Every error a user can cause is one of these, and its message names the field, the bad value and
the allowed range or the fix, in one line. The CLI prints ``str(error)`` and exits non-zero.
"""


class SceneSimError(Exception):
    """Base class of every error scenesim raises on purpose."""


class SceneValidationError(SceneSimError, ValueError):
    """A scene field (or a JSON scene file) has a bad value. The message names the field path."""


class PlacementError(SceneSimError):
    """Objects could not be placed without overlapping (spawn region too small or too crowded)."""


class AssetError(SceneSimError):
    """An asset id is unknown, or an asset file is missing or unreadable."""


class RecipeError(SceneSimError):
    """A recipe name is unknown, a recipe file cannot be loaded, or a recipe parameter is bad."""


class RenderError(SceneSimError):
    """Blender failed to render or its output could not be decoded."""


class OutputError(SceneSimError):
    """A scene directory is missing, incomplete or of an unsupported format version."""


class SimulationError(SceneSimError):
    """PyBullet failed, or the simulation blew up (non-finite state)."""
