"""The API reference (.ci/docs) lists every public name.

CI builds the site with warnings as errors (.ci/run), which catches broken
docstrings and names that no longer exist; this test catches the other
direction: a name exported by a module but missing from its API page.
"""

import importlib
import pathlib
import re

import pytest

API = pathlib.Path(__file__).resolve().parents[1] / ".ci" / "docs" / "api"

# module -> its API page
PAGES = {
    "acclip_optax": "transforms.rst",
    "acclip_optax.evidence": "evidence.rst",
    "acclip_optax.noise": "noise.rst",
    "acclip_optax.theory": "theory.rst",
    "acclip_optax.testbeds": "testbeds.rst",
    "acclip_optax.testbeds.models": "testbeds.rst",
    "acclip_optax.testbeds.data": "testbeds.rst",
    "acclip_optax.reproduce": "reproduce.rst",
}


def _public_names(module):
  if hasattr(module, "__all__"):
    return set(module.__all__)
  # Modules without __all__ (evidence, reproduce): their constants and what
  # they define or re-export from the package, not what they import from
  # elsewhere (numpy, typing).
  return {name for name, value in vars(module).items()
          if not name.startswith("_") and not isinstance(value, type(module))
          and (name.isupper() or (getattr(value, "__module__", None) or ""
                                  ).startswith("acclip_optax"))}


def _documented(page, module_name):
  """Names documented under ``.. currentmodule:: module_name`` on ``page``."""
  text = (API / page).read_text()
  names, current = set(), None
  for line in text.splitlines():
    match = re.match(r"\.\. currentmodule:: (\S+)", line)
    if match:
      current = match.group(1)
      continue
    match = re.match(r"\.\. (?:auto\w+|py:data):: (\S+)", line)
    if match:
      target = match.group(1)
      if "." not in target:
        target = f"{current}.{target}"
      owner, _, name = target.rpartition(".")
      if owner == module_name:
        names.add(name)
  return names


@pytest.mark.parametrize("module_name", sorted(PAGES))
def test_every_public_name_is_on_its_api_page(module_name):
  module = importlib.import_module(module_name)
  public = _public_names(module)
  assert public, module_name
  documented = _documented(PAGES[module_name], module_name)
  assert not public - documented, sorted(public - documented)
  assert not documented - public, sorted(documented - public)


def test_index_links_every_api_page():
  index = (API.parent / "index.rst").read_text()
  for page in set(PAGES.values()):
    assert f"api/{page[:-4]}" in index, page
