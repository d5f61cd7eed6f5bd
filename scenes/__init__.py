"""Scene recipes: ``get_recipe(name_or_path)(seed, params) -> Scene``; ``recipes()`` lists them."""

from scenes.registry import Param, Recipe, file_recipes, get_recipe, recipes, register

__all__ = ["Param", "Recipe", "file_recipes", "get_recipe", "recipes", "register"]
