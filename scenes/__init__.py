"""Scene recipes: ``get_recipe(name_or_path)(seed, params) -> Scene``; ``recipes()`` lists them."""

from scenes.registry import Param, Recipe, get_recipe, recipes, register

__all__ = ["Param", "Recipe", "get_recipe", "recipes", "register"]
