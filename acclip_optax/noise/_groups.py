"""Parameter groups (embeddings, attention, MLP, norms, head, ...) by path.

A random draw of coordinates from a transformer is mostly token-embedding
entries (they hold most of the parameters), so a tail index over a random
draw describes the embedding table. Noise is therefore sampled and reported
per group of parameters, a group being named from the parameter's path in
the tree.
"""

import re
from typing import Any, Callable, Mapping, Sequence, Union

import jax

# (group, regular expression searched in the lower-case "/"-joined path);
# the first match wins, so "embed_norm" is a norm and "mlp/fc1" is MLP.
DEFAULT_PARAMETER_GROUPS: tuple[tuple[str, str], ...] = (
    ("norms", r"norm|(^|[/_])(bn|ln|gn)\d*($|[/_])"),
    ("embeddings", r"embed"),
    ("attention", r"attention|attn|(^|/)(query|key|value|[qkv]_proj)($|/)"),
    ("mlp", r"mlp|ffn|feed_?forward|intermediate"),
    ("convolution", r"conv"),
    ("head", r"head|classifier|logits|pooler|transform|(^|/)output"),
    ("dense", r"dense|linear|(^|/)fc\d*($|/)|kernel|bias|weight"),
)
OTHER = "other"

Groups = Union[None, Sequence[tuple[str, str]], Mapping[str, str],
               Callable[[str], str]]


def leaf_paths(params: Any) -> list[str]:
  """``"a/b/0/kernel"``-style paths of ``jax.tree.leaves(params)``, in order.

  Flax NNX ``Variable`` leaves are named by their position in the module,
  without the trailing ``value`` attribute.

  Examples:
    >>> import numpy as np
    >>> from acclip_optax import noise
    >>> noise.leaf_paths({"layers": [{"kernel": np.ones(2)}], "bias": 0.0})
    ['bias', 'layers/0/kernel']
  """
  def name(key) -> str:
    for attr in ("key", "name", "idx"):
      if hasattr(key, attr):
        return str(getattr(key, attr))
    return str(key)

  def shown(key) -> bool:
    # A Flax NNX Variable flattens to its ``.value`` attribute: not a name.
    return not (isinstance(key, jax.tree_util.GetAttrKey) and
                key.name == "value")

  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  return ["/".join(name(k) for k in path if shown(k)) for path, _ in flat]


def _matcher(groups: Groups) -> Callable[[str], str]:
  """``path -> group name`` for any accepted form of ``groups``."""
  if callable(groups):
    return groups
  if groups is None:
    pairs = DEFAULT_PARAMETER_GROUPS
  elif isinstance(groups, Mapping):
    pairs = tuple(groups.items())
  else:
    pairs = tuple(groups)
  compiled = []
  for pair in pairs:
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2 or
        not all(isinstance(p, str) for p in pair)):
      raise ValueError(
          "groups must be None, a callable path -> name, a mapping name -> "
          "regex or a sequence of (name, regex) pairs; got the entry "
          f"{pair!r}.")
    try:
      compiled.append((pair[0], re.compile(pair[1])))
    except re.error as e:
      raise ValueError(f"groups: the pattern {pair[1]!r} of group "
                       f"{pair[0]!r} is not a regular expression: {e}") from e

  def match(path: str) -> str:
    low = path.lower()
    for group, pattern in compiled:
      if pattern.search(low):
        return group
    return OTHER

  return match


def leaf_groups(params: Any, groups: Groups = None) -> tuple[str, ...]:
  """The group name of every leaf of ``params``, in ``jax.tree.leaves`` order.

  Args:
    params: a params tree.
    groups: ``None`` for :data:`DEFAULT_PARAMETER_GROUPS` (embeddings,
      attention, MLP, norms, head for a transformer; convolution, norms and
      head or dense layers for a CNN; ``"other"`` when nothing matches); a
      sequence of ``(name, regex)`` pairs or an ordered mapping ``name ->
      regex`` searched in the lower-case ``"/"``-joined path (first match
      wins, else ``"other"``); or a callable ``path -> name``.

  Returns:
    A tuple of group names, one per leaf.

  Examples:
    >>> import numpy as np
    >>> from acclip_optax import noise
    >>> params = {"embed": np.ones(3), "attention": {"query": np.ones(2)},
    ...           "mlp": {"fc1": np.ones(2)}, "ln": {"scale": np.ones(2)}}
    >>> noise.leaf_groups(params)
    ('attention', 'embeddings', 'norms', 'mlp')
    >>> noise.leaf_groups(params, [("token", r"embed"), ("rest", r".")])
    ('rest', 'token', 'rest', 'rest')
  """
  match = _matcher(groups)
  names = []
  for path in leaf_paths(params):
    group = match(path)
    if not isinstance(group, str) or not group:
      raise ValueError(f"groups must map each path to a non-empty str, got "
                       f"{group!r} for the path {path!r}.")
    names.append(group)
  return tuple(names)


def parameter_groups(params: Any, groups: Groups = None
                     ) -> dict[str, list[str]]:
  """``{group: [leaf paths]}``, groups in order of first appearance.

  What :func:`minibatch_noise` samples coordinates from and reports tail
  indices for; print it to check (or override) a model's grouping.

  Args:
    params: a params tree.
    groups: as in :func:`leaf_groups`.

  Returns:
    A dict from group name to the paths of its leaves.

  Examples:
    >>> import numpy as np
    >>> from acclip_optax import noise
    >>> params = {"conv1": {"kernel": np.ones(3)}, "bn1": {"scale": np.ones(1)},
    ...           "head": {"kernel": np.ones(2)}}
    >>> noise.parameter_groups(params)
    {'norms': ['bn1/scale'], 'convolution': ['conv1/kernel'],
     'head': ['head/kernel']}
  """
  out: dict[str, list[str]] = {}
  for path, group in zip(leaf_paths(params), leaf_groups(params, groups),
                         strict=True):
    out.setdefault(group, []).append(path)
  return out
