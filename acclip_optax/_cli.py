"""One-line errors for the example programs' command lines.

A user's mistake (a misspelled flag or config field, a missing config file, a
value the program refuses) ends the program with one ``error: ...`` line on
stderr and exit code 1; ``--traceback`` shows the traceback instead. The
example programs call :func:`run` in place of ``absl.app.run``::

  if __name__ == "__main__":
    _cli.run(main, user_errors=(ValueError,))

The diagnosis of a bad ``--config.a.b=...`` override walks the loaded config
itself, so the message names the whole path, the close matches and every
field that exists at that level.
"""

import difflib
import os
import re
import sys
from typing import Any, Callable, NoReturn, Optional, Sequence

from absl import app
from absl import flags
# The config-file flag's parser is public in the implementation module only.
from ml_collections.config_flags.config_flags import ConfigFileFlagParser

TRACEBACK_FLAG = "traceback"
_TRACEBACK_ON = ("--traceback", "-traceback", "--traceback=true",
                 "--traceback=True", "--traceback=1")


def fail(message: str) -> NoReturn:
  """Prints ``error: <message>`` as one line to stderr and exits with 1."""
  lines = [line.strip() for line in str(message).strip().splitlines()]
  print(f"error: {' '.join(line for line in lines if line) or '?'}",
        file=sys.stderr, flush=True)
  sys.exit(1)


def traceback_requested(argv: Sequence[str]) -> bool:
  """Whether ``argv`` asks for tracebacks (readable before flags parse)."""
  return any(arg in _TRACEBACK_ON for arg in argv)


def _config_spec(argv: Sequence[str], name: str) -> Optional[str]:
  """The last ``--<name>=SPEC`` (or ``--<name> SPEC``) value in ``argv``."""
  spec = None
  for i, arg in enumerate(argv):
    match = re.fullmatch(rf"--?{re.escape(name)}(=(.*))?", arg)
    if match is None:
      continue
    if match.group(1) is not None:
      spec = match.group(2)
    elif i + 1 < len(argv):
      spec = argv[i + 1]
  return spec


def _overrides(argv: Sequence[str], name: str) -> list[str]:
  """Field paths of the ``--<name>.a.b=...`` overrides in ``argv``."""
  paths = []
  for arg in argv:
    match = re.match(rf"--?(?:no)?{re.escape(name)}\.([^=]+)", arg)
    if match is not None:
      paths.append(match.group(1))
  return paths


def _field_names(node: Any) -> Optional[list[str]]:
  if hasattr(node, "keys") and callable(node.keys):
    return sorted(str(k) for k in node.keys())
  return None


def missing_field(config: Any, path: str, *, prefix: str = "config"
                  ) -> Optional[str]:
  """A one-line message if ``path`` (``"a.b"``) is not a field of ``config``.

  Names the full path, the close matches and the fields that exist where the
  path leaves the config; ``None`` if every part of the path exists.

  Examples:
    >>> import ml_collections
    >>> config = ml_collections.ConfigDict({"seed": 0, "model": "mlp"})
    >>> print(missing_field(config, "sedes"))
    --config.sedes: config has no field 'sedes' (did you mean 'seed'?);
    its fields: model, seed
    >>> missing_field(config, "seed") is None
    True
  """
  node, walked = config, prefix
  for part in re.sub(r"\[\d+\]", "", path).split("."):
    names = _field_names(node)
    if names is None:
      return (f"--{prefix}.{path}: {walked} is a "
              f"{type(node).__name__}, not a config with fields")
    if part not in names:
      close = difflib.get_close_matches(part, names, n=3)
      hint = (" (did you mean " + " or ".join(repr(c) for c in close) + "?)"
              if close else "")
      return (f"--{prefix}.{path}: {walked} has no field {part!r}{hint}; "
              f"its fields: {', '.join(names)}")
    node, walked = node[part], f"{walked}.{part}"
  return None


def _is_config_file_flag(flag: flags.Flag) -> bool:
  return isinstance(flag.parser, ConfigFileFlagParser)


def _missing_file(name: str, spec: str) -> str:
  path = spec.split(":", 1)[0]
  folder = os.path.dirname(path) or "."
  msg = f"--{name}={spec}: no such config file"
  if os.path.isdir(folder):
    choices = sorted(f for f in os.listdir(folder)
                     if f.endswith(".py") and not f.startswith("_"))
    if choices:
      msg += f"; configs in {folder}: {', '.join(choices)}"
  return msg


def config_problem(argv: Sequence[str],
                   flag_values: flags.FlagValues = flags.FLAGS
                   ) -> Optional[str]:
  """A one-line description of what is wrong with ``argv``'s config flags.

  Checks each config-file flag of ``flag_values``: the file exists and loads,
  and every ``--<flag>.a.b=...`` override names an existing field. ``None``
  when no problem is found there.
  """
  for name in list(flag_values):
    flag = flag_values[name]
    if not _is_config_file_flag(flag):
      continue
    spec = _config_spec(argv, name)
    if spec is None:
      continue
    if not os.path.isfile(spec.split(":", 1)[0]):
      return _missing_file(name, spec)
    try:
      config = flag.parser.parse(spec)
      _field_names(config)  # an unloadable file raises on first access
    except Exception as e:  # pylint: disable=broad-except
      last = str(e).strip().splitlines()[-1:] or [type(e).__name__]
      return f"--{name}={spec}: the config file does not load: {last[0]}"
    for path in _overrides(argv, name):
      message = missing_field(config, path, prefix=name)
      if message is not None:
        return message
  return None


def parse_flags(argv: Sequence[str],
                flag_values: flags.FlagValues = flags.FLAGS) -> list[str]:
  """Parses ``argv`` like absl; a mistake ends with one ``error:`` line.

  Returns:
    The arguments left for ``main`` (``argv[0]`` first).
  """
  try:
    remaining = flag_values(list(argv))
  except Exception as e:  # pylint: disable=broad-except
    if traceback_requested(argv):
      raise
    problem = config_problem(argv, flag_values)
    if problem is not None:
      fail(problem)
    if isinstance(e, flags.Error):
      fail(f"{str(e).strip().splitlines()[0]} (--helpshort lists the flags)")
    fail(f"{type(e).__name__}: {e}")
  # A config file that does not exist loads lazily and fails on first use.
  for name in list(flag_values):
    flag = flag_values[name]
    if _is_config_file_flag(flag) and flag.value is not None:
      try:
        _field_names(flag.value)
      except OSError:
        if traceback_requested(argv):
          raise
        fail(config_problem(argv, flag_values)
             or f"--{name}: the config file does not load")
  return remaining


def run(main: Callable[[list[str]], Any], *,
        user_errors: tuple[type[BaseException], ...] = (ValueError,)) -> None:
  """``absl.app.run(main)`` with one-line errors for a user's mistakes.

  Defines ``--traceback`` (unless the program already has it). Flag and
  config mistakes are reported by :func:`parse_flags`; an exception of one of
  ``user_errors`` raised by ``main`` is printed as one ``error:`` line with
  exit code 1. Any other exception keeps its traceback: it is a bug.
  """
  if TRACEBACK_FLAG not in flags.FLAGS:
    # Declared for the program (absl names __main__ by sys.argv[0]), so that
    # --helpshort lists it with the program's own flags.
    flags.DEFINE_bool(TRACEBACK_FLAG, False,
                      "On an error, show the traceback, not only its message.",
                      module_name=sys.argv[0])

  def guarded_main(argv: list[str]) -> None:
    try:
      main(argv)
    except user_errors as e:
      if flags.FLAGS[TRACEBACK_FLAG].value:
        raise
      fail(str(e))

  app.run(guarded_main, flags_parser=parse_flags)
