"""One progress reporter for every long loop: one line per report, rate, ETA.

Lines (not carriage returns) so that progress reads the same on a terminal,
in a log file and in CI; only process 0 prints on multi-host runs.
"""

import math
import sys
import time
from typing import Any, Callable, Mapping, Optional, TextIO


def format_duration(seconds: float) -> str:
  """``"42s"``, ``"3m05s"``, ``"2h07m"``; ``"?"`` when unknown.

  Examples:
    >>> from acclip_optax._progress import format_duration
    >>> format_duration(42.4), format_duration(185), format_duration(7620)
    ('42s', '3m05s', '2h07m')
  """
  if not math.isfinite(seconds) or seconds < 0:
    return "?"
  seconds = int(round(seconds))
  if seconds < 60:
    return f"{seconds}s"
  if seconds < 3600:
    return f"{seconds // 60}m{seconds % 60:02d}s"
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _process_zero() -> bool:
  try:
    import jax  # pylint: disable=g-import-not-at-top
    return jax.process_index() == 0
  except Exception:  # pylint: disable=broad-except  # no backend: one process
    return True


class Progress:
  """Periodic one-line reports of a loop: done/total, rate and ETA.

  ``update(done)`` prints a line about ``lines`` times over the loop (at
  every ``total // lines``-th unit and at the end) or, with ``every``, at
  every ``every``-th unit; ``report(done)`` prints one now. Counts may start
  at ``start`` (a resumed run): the rate and the ETA count only the units
  done since this reporter was made. With ``bar=True`` each line carries a
  tqdm-style bar.

  Args:
    total: the count at which the loop ends.
    label: printed at the start of each line (e.g. the function's name).
    start: the count when the reporter is made (a resumed run's step).
    unit: the name of one unit in the rate (``"steps"``, ``"draws"``).
    lines: about how many lines ``update`` prints over the whole loop.
    every: print at every ``every``-th unit instead (overrides ``lines``).
    enabled: ``False`` makes every call a no-op.
    bar: add a ``[#####.....]`` bar to each line.
    stream: where lines go (default ``sys.stderr``).
    clock: the time source (tests pass a fake one).

  Examples:
    >>> import io
    >>> from acclip_optax._progress import Progress
    >>> ticks = iter([0.0, 2.0, 4.0])
    >>> out = io.StringIO()
    >>> p = Progress(4, label="draws", unit="draws", lines=2, stream=out,
    ...              bar=True, clock=lambda: next(ticks))
    >>> for i in range(1, 5):
    ...   _ = p.update(i)
    >>> print(out.getvalue(), end="")
    draws [##########..........] 2/4 (50%) | 1.00 draws/s | 2s elapsed | ETA 2s
    draws [####################] 4/4 (100%) | 1.00 draws/s | 4s elapsed | ETA 0s
  """

  def __init__(self, total: int, *, label: str = "", start: int = 0,
               unit: str = "steps", lines: int = 10,
               every: Optional[int] = None, enabled: bool = True,
               bar: bool = False, stream: Optional[TextIO] = None,
               clock: Callable[[], float] = time.perf_counter):
    if int(total) < int(start):
      raise ValueError(
          f"total must be >= start, got total={total!r}, start={start!r}.")
    if every is not None and int(every) < 1:
      raise ValueError(f"every must be >= 1, got every={every!r}.")
    if int(lines) < 1:
      raise ValueError(f"lines must be >= 1, got lines={lines!r}.")
    self.total, self.start = int(total), int(start)
    self.label, self.unit, self.bar = label, unit, bar
    self.every = int(every) if every is not None else max(
        1, (self.total - self.start) // int(lines))
    self.enabled = enabled and _process_zero()
    self.stream = stream
    self._clock = clock
    self._t0 = clock()

  def line(self, done: int, scalars: Optional[Mapping[str, Any]] = None
           ) -> str:
    """The report for count ``done``, without printing it."""
    elapsed = self._clock() - self._t0
    since = done - self.start
    rate = since / elapsed if elapsed > 0 and since > 0 else float("nan")
    eta = (self.total - done) / rate if rate > 0 else float("nan")
    frac = done / self.total if self.total else 1.0
    head = f"{self.label} " if self.label else ""
    if self.bar:
      filled = int(round(20 * min(max(frac, 0.0), 1.0)))
      head += f"[{'#' * filled}{'.' * (20 - filled)}] "
    parts = [f"{head}{done}/{self.total} ({100 * frac:.0f}%)"]
    parts += [f"{k} {float(v):.4g}" if v is not None else f"{k} n/a"
              for k, v in (scalars or {}).items()]
    parts += [f"{rate:.2f} {self.unit}/s" if math.isfinite(rate)
              else f"? {self.unit}/s",
              f"{format_duration(elapsed)} elapsed",
              f"ETA {format_duration(eta) if done < self.total else '0s'}"]
    return " | ".join(parts)

  def report(self, done: int, scalars: Optional[Mapping[str, Any]] = None
             ) -> str:
    """Prints (when enabled) and returns the report for count ``done``."""
    text = self.line(done, scalars)
    if self.enabled:
      print(text, file=self.stream or sys.stderr, flush=True)
    return text

  def update(self, done: int, scalars: Optional[Mapping[str, Any]] = None
             ) -> Optional[str]:
    """Reports when ``done`` is due (every ``every`` units, and the end)."""
    if not self.enabled:
      return None
    if (done - self.start) % self.every and done != self.total:
      return None
    return self.report(done, scalars)
