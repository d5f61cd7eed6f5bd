"""Recipe registry: a recipe is ``build(rng, **params) -> Scene``, registered by name, or a user
function loaded from ``path/to/file.py:function``.

Parameters are declared with ``Param`` so they can be listed (``scenesim recipes``) and validated
before any work starts: an unknown name or a value out of range is one clear ``RecipeError`` line.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import RecipeError, SceneSimError
from sim.scene import Scene
from sim.stereo import with_stereo_rig

BuildFn = Callable[..., Scene]


@dataclass(frozen=True)
class Param:
    """A recipe parameter: default value, help text, and the allowed values: an inclusive numeric
    range (ints and floats) or, for strings, ``choices`` (None: any string)."""

    name: str
    default: Any
    help: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None

    def check(self, recipe: str, value: Any) -> Any:
        kind = type(self.default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not kind:
            raise RecipeError(f"recipe {recipe}: parameter {self.name}={value!r} must be a {kind.__name__}")
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise RecipeError(f"recipe {recipe}: parameter {self.name}={value!r} is outside "
                              f"[{self.lo}, {self.hi}]")
        if self.choices is not None and value not in self.choices:
            raise RecipeError(f"recipe {recipe}: parameter {self.name}={value!r} is not one of "
                              + ", ".join(self.choices))
        return value


STEREO_BASELINE = Param("stereo_baseline", 0.0, "replace the camera by a rectified stereo rig "
                        "(cameras left and right) with this baseline in metres; 0 = one camera", 0.0, 10.0)
"""A parameter every registered recipe takes (``sim.stereo.with_stereo_rig`` on the built scene)."""


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    build: BuildFn
    params: tuple[Param, ...] = ()

    def resolve_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overridden by ``params``, each checked; unknown names are refused."""
        known = {p.name: p for p in self.params}
        if not known and params:  # a user recipe without declared params: check the signature
            sig = inspect.signature(self.build)
            accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
            unknown = [k for k in params if k not in sig.parameters or k == "rng"]
            if unknown and not accepts_any:
                raise RecipeError(f"recipe {self.name}: unknown parameter {unknown[0]!r}")
            return dict(params)
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise RecipeError(f"recipe {self.name}: unknown parameter {unknown[0]!r}; "
                              f"known: {', '.join(known) or 'none'}")
        out = {p.name: p.default for p in self.params}
        out.update({k: known[k].check(self.name, v) for k, v in params.items()})
        return out

    def __call__(self, seed: int, params: Mapping[str, Any] | None = None) -> Scene:
        """Builds the scene for ``seed`` (rng = numpy default_rng(seed)); the scene's seed is set."""
        resolved = self.resolve_params(params or {})
        baseline = resolved.pop(STEREO_BASELINE.name, 0.0) if STEREO_BASELINE in self.params else 0.0
        try:
            scene = self.build(np.random.default_rng(seed), **resolved)
        except SceneSimError:
            raise
        except Exception as e:  # a user recipe's own bug: name it, keep it one line
            raise RecipeError(f"recipe {self.name} failed: {type(e).__name__}: {e}") from e
        if not isinstance(scene, Scene):
            raise RecipeError(f"recipe {self.name} returned {type(scene).__name__}, expected a Scene")
        return with_stereo_rig(scene, baseline) if baseline > 0 else scene


_RECIPES: dict[str, Recipe] = {}


def register(name: str, description: str, params: tuple[Param, ...] = ()) -> Callable[[BuildFn], BuildFn]:
    """Decorator registering ``build(rng, **params) -> Scene`` under ``name``."""
    def deco(fn: BuildFn) -> BuildFn:
        _RECIPES[name] = Recipe(name, description, fn, (*params, STEREO_BASELINE))
        return fn
    return deco


def recipes() -> dict[str, Recipe]:
    """All registered recipes by name (built-ins are imported on first use)."""
    import scenes.builtin  # noqa: F401  (registers the built-in recipes)

    return dict(sorted(_RECIPES.items()))


def get_recipe(spec: str) -> Recipe:
    """A registered name (``movi-a``) or ``path/to/file.py:function``."""
    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        return _load_file_recipe(spec)
    found = recipes().get(spec)
    if found is None:
        raise RecipeError(f"recipe: unknown recipe {spec!r}; known: {', '.join(recipes())} "
                          "(or path/to/file.py:function)")
    return found


def file_recipes(path: Path) -> dict[str, Recipe]:
    """The recipes the Python file ``path`` declares with ``@register``, by name (the file is
    imported once). ``RecipeError`` if it cannot be loaded or declares none: its plain functions are
    rendered with ``--recipe path.py:function`` and take their keyword arguments as parameters."""
    module = _load_module(Path(path))
    found = {r.name: r for r in _RECIPES.values() if r.build.__module__ == module.__name__}
    if not found:
        raise RecipeError(f"recipe: {path} declares no recipe with @register; render one of its functions "
                          f"with --recipe {path}:FUNCTION")
    return dict(sorted(found.items()))


def _load_module(path: Path) -> types.ModuleType:
    """Imports the recipe file ``path`` once per process (``RecipeError`` if it cannot be)."""
    if not path.is_file():
        raise RecipeError(f"recipe: file {path} does not exist")
    mod_name = f"scenesim_user_recipe_{abs(hash(str(path.resolve())))}"
    module = sys.modules.get(mod_name)
    if module is None:
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        assert loader_spec is not None and loader_spec.loader is not None
        module = importlib.util.module_from_spec(loader_spec)
        try:
            loader_spec.loader.exec_module(module)
        except Exception as e:
            raise RecipeError(f"recipe: cannot load {path}: {type(e).__name__}: {e}") from e
        sys.modules[mod_name] = module
    return module


def _load_file_recipe(spec: str) -> Recipe:
    path_text, func = spec.rsplit(":", 1)
    path = Path(path_text)
    fn = getattr(_load_module(path), func, None)
    if not callable(fn):
        raise RecipeError(f"recipe: {path} has no function {func!r}")
    declared = next((r for r in _RECIPES.values() if r.build is fn), None)
    return declared or Recipe(spec, (fn.__doc__ or "").strip().split("\n")[0], fn)
