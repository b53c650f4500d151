"""The work directory's ``config.json``: compared before a rerun, changes kept.

A work directory holds one trajectory: its checkpoints and ``metrics.jsonl``
were made with the config in its ``config.json``. A rerun with a different
config is refused (with the changed fields) before anything is written, unless
the change cannot alter the trajectory (:data:`BOOKKEEPING_FIELDS`) or the
caller says so with ``config.allow_config_change=True``. Accepted changes are
appended to ``config_history.jsonl`` and ``config.json`` then holds the new
config.
"""

import datetime
import json
import pathlib
from typing import Any, Dict, Tuple

CONFIG_FILE = "config.json"
HISTORY_FILE = "config_history.jsonl"

# Fields that change what is logged, evaluated or kept, or when the run stops,
# but not the sequence of parameters: a rerun may change them freely.
BOOKKEEPING_FIELDS = frozenset({
    "log_every_steps", "eval_every_steps", "num_eval_batches",
    "eval_batch_size", "checkpoint_every_steps", "max_checkpoints_to_keep",
    "halt_after_steps", "max_nonfinite_steps", "allow_config_change",
})
# ``num_train_steps`` also sets the length of the linear and cosine decays, so
# it is bookkeeping only under ``lr_schedule="constant"``.
_LENGTH_FIELD = "num_train_steps"

_ABSENT = "<absent>"


class ConfigMismatchError(ValueError):
  """The config differs from the one the work directory was trained with."""


def config_dict(config) -> Dict[str, Any]:
  """The config as plain JSON values (what ``config.json`` stores)."""
  return json.loads(config.to_json_best_effort())


def _flatten(d: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def diff(old: Dict[str, Any], new: Dict[str, Any]) -> Dict[str, Tuple]:
  """``{field: (old, new)}`` for every field that differs (dotted names)."""
  a, b = _flatten(old), _flatten(new)
  return {k: (a.get(k, _ABSENT), b.get(k, _ABSENT))
          for k in sorted(set(a) | set(b)) if a.get(k, _ABSENT) !=
          b.get(k, _ABSENT)}


def _is_bookkeeping(field: str, old: Dict[str, Any], new: Dict[str, Any]):
  if field in BOOKKEEPING_FIELDS:
    return True
  return (field == _LENGTH_FIELD and old.get("lr_schedule") == "constant"
          and new.get("lr_schedule") == "constant")


def has_run_state(workdir) -> bool:
  """Whether ``workdir`` holds checkpoints or metrics of an earlier run."""
  workdir = pathlib.Path(workdir)
  metrics = workdir / "metrics.jsonl"
  if metrics.exists() and metrics.stat().st_size > 0:
    return True
  ckpts = workdir / "checkpoints"
  return ckpts.is_dir() and any(p.is_dir() and p.name.isdigit()
                                for p in ckpts.iterdir())


def check_config(workdir, config) -> Dict[str, Tuple]:
  """The changes from the stored config; raises if they are not allowed.

  Reads only. Returns ``{}`` for a new work directory (or one without
  checkpoints and metrics, whose ``config.json`` describes nothing), else
  ``{field: (old, new)}``. Raises :class:`ConfigMismatchError` listing the
  fields when a change may alter the trajectory and
  ``config.allow_config_change`` is not set.
  """
  path = pathlib.Path(workdir) / CONFIG_FILE
  if not path.exists() or not has_run_state(workdir):
    return {}
  try:
    old = json.loads(path.read_text())
  except (OSError, ValueError) as e:
    raise ConfigMismatchError(
        f"{path} is unreadable ({e}); it must describe the checkpoints in "
        "that workdir. Restore it or use a new --workdir.") from e
  new = config_dict(config)
  changes = diff(old, new)
  forced = [k for k in changes if not _is_bookkeeping(k, old, new)]
  if forced and not config.get("allow_config_change", False):
    lines = "\n".join(f"  {k}: {json.dumps(changes[k][0])} -> "
                      f"{json.dumps(changes[k][1])}" for k in forced)
    raise ConfigMismatchError(
        f"workdir {pathlib.Path(workdir)} holds a run with another config; "
        f"changed fields (stored -> new):\n{lines}\nRerun with the stored "
        "values, use a new --workdir, or pass "
        "--config.allow_config_change=True to continue with the new values "
        f"(the change is recorded in {HISTORY_FILE}).")
  return changes


def write_config(workdir, config, changes: Dict[str, Tuple]) -> None:
  """Writes ``config.json``; appends ``changes`` to the history if any."""
  workdir = pathlib.Path(workdir)
  if changes:
    entry = {"time": datetime.datetime.now(datetime.timezone.utc)
                     .isoformat(timespec="seconds"),
             "changes": {k: list(v) for k, v in changes.items()}}
    with open(workdir / HISTORY_FILE, "a") as f:
      f.write(json.dumps(entry) + "\n")
  (workdir / CONFIG_FILE).write_text(config.to_json_best_effort(indent=2))
