"""``results.json`` (every number) and ``report.md`` (claims table first).

Every number the report prints goes through :func:`fmt` (4 significant
digits) and is stored in ``results.json`` first, so that a reader (and the
test suite) can find each printed number among the stored ones.
"""

import json
import math
import pathlib
from typing import Any, Sequence

from acclip_optax.reproduce._runner import _plain


def fmt(x: Any) -> str:
  """The one number format of the report: 4 significant digits."""
  if isinstance(x, bool):
    return str(x)
  if isinstance(x, int):
    return str(x)
  if isinstance(x, float):
    if math.isnan(x):
      return "nan"
    if math.isinf(x):
      return "inf" if x > 0 else "-inf"
    return f"{x:.4g}"
  if isinstance(x, str):
    return x
  if isinstance(x, (list, tuple)):
    return ", ".join(fmt(v) for v in x)
  if isinstance(x, dict):
    return "; ".join(f"{k} {fmt(v)}" for k, v in x.items())
  return str(x)


def measured_text(measured: Any) -> str:
  if measured is None:
    return "n/a"
  return (f"{fmt(measured['value'])} [{fmt(measured['ci_low'])}, "
          f"{fmt(measured['ci_high'])}]")


def _cell(text: str) -> str:
  return str(text).replace("|", "\\|").replace("\n", " ")


def claims_table(claims: Sequence[dict]) -> str:
  """Markdown table of the claims.

  Columns: claim, what we ran, metric, predicted, measured [95% CI], verdict.
  """
  lines = ["| # | claim | what we ran | metric | predicted | measured [95% CI] "
           "| verdict |", "|---|---|---|---|---|---|---|"]
  for c in claims:
    verdict = c["verdict"] + (f" ({c['note']})" if c.get("note") else "")
    cells = [c["row"], c["claim"], c["ran"], c["metric"], c["predicted"],
             measured_text(c["measured"]), verdict]
    lines.append("| " + " | ".join(_cell(s) for s in cells) + " |")
  return "\n".join(lines)


def write(workdir, *, preset: str, rows: Sequence[dict], wall_seconds: float,
          config: Any, runs: dict) -> dict:
  """Writes ``results.json`` and ``report.md`` into ``workdir``.

  Args:
    workdir: the reproduction's work directory.
    preset: the preset's name.
    rows: row results (``name``, ``title``, ``claims``, ``sections``,
      ``data``).
    wall_seconds: this invocation's wall time.
    config: the reproduction config (stored).
    runs: counts of jobs run and skipped in this invocation.

  Returns:
    The stored document.
  """
  workdir = pathlib.Path(workdir)
  claims = [c for r in rows for c in r["claims"]]
  doc = _plain({"preset": preset, "wall_seconds": wall_seconds, "runs": runs,
                "claims": claims, "rows": list(rows), "config": config})
  (workdir / "results.json").write_text(json.dumps(doc, indent=1))
  counts = {v: sum(c["verdict"] == v for c in claims)
            for v in ("holds", "does not hold", "inconclusive")}
  lines = [
      "# Reproduction of Zhang et al., \"Why are Adaptive Methods Good for "
      "Attention Models?\" (NeurIPS 2020)",
      "",
      f"Preset `{preset}`. Verdict rule (fixed before the runs, "
      "`acclip_optax.evidence`): an effect *holds* when its 95% bootstrap CI "
      "over seeds excludes zero in the predicted direction, *does not hold* "
      "when it excludes zero the other way, and is *inconclusive* otherwise; "
      "a rate holds when its CI covers the predicted slope and excludes zero.",
      "",
      f"Verdicts: {counts['holds']} hold, {counts['does not hold']} do not "
      f"hold, {counts['inconclusive']} inconclusive. Every number below is "
      "in `results.json`; every run is in `runs/`.",
      "",
      "## Claims",
      "",
      claims_table(claims),
      "",
  ]
  for r in rows:
    lines += [f"## {r['title']}", ""]
    for s in r["sections"]:
      if s.get("title"):
        lines += [f"### {s['title']}", ""]
      for f in s.get("figures", ()):
        lines += [f"![{f}]({f})", ""]
      if s.get("settings"):
        lines.append("Settings:")
        lines += [f"- {k}: {fmt(v)}" for k, v in s["settings"].items()]
        lines.append("")
      if s.get("text"):
        lines += [s["text"], ""]
  lines += [f"Wall time of this invocation: {fmt(float(wall_seconds))} s "
            f"({runs['run']} jobs run, {runs['skipped']} found finished).", ""]
  (workdir / "report.md").write_text("\n".join(lines))
  return doc
