"""acclip_optax._progress.Progress: the one progress reporter."""

import io

import pytest

from acclip_optax import _progress


class FakeClock:
  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


def test_reports_rate_and_eta_about_lines_times():
  clock, out = FakeClock(), io.StringIO()
  p = _progress.Progress(100, label="draws", unit="draws", lines=4,
                         stream=out, clock=clock)
  printed = []
  for i in range(1, 101):
    clock.now += 0.5  # 2 draws/s
    if p.update(i) is not None:
      printed.append(i)
  assert printed == [25, 50, 75, 100]
  lines = out.getvalue().splitlines()
  assert len(lines) == 4
  # 25 of 100 after 12.5 s: 2 draws/s, 75 left -> 37.5 s -> "38s".
  assert lines[0] == ("draws 25/100 (25%) | 2.00 draws/s | 12s elapsed | "
                      "ETA 38s")
  assert lines[-1].endswith("ETA 0s") and "100/100 (100%)" in lines[-1]


def test_resumed_run_counts_rate_from_start_and_shows_scalars():
  clock, out = FakeClock(), io.StringIO()
  p = _progress.Progress(1000, start=900, stream=out, clock=clock, every=50)
  clock.now += 10.0
  assert p.update(925) is None
  text = p.update(950, {"loss": 0.123456})
  # 50 steps in 10 s = 5 steps/s; 50 left -> 10 s.
  assert text == ("950/1000 (95%) | loss 0.1235 | 5.00 steps/s | "
                  "10s elapsed | ETA 10s")
  assert out.getvalue() == text + "\n"


def test_bar_disabled_and_validation():
  clock, out = FakeClock(), io.StringIO()
  p = _progress.Progress(4, bar=True, stream=out, clock=clock)
  clock.now += 1.0
  assert p.line(1).startswith("[#####...............] 1/4 (25%)")
  quiet = _progress.Progress(4, enabled=False, stream=out, clock=clock)
  assert quiet.update(4) is None and out.getvalue() == ""
  assert "? steps/s" in _progress.Progress(4, clock=lambda: 0.0).line(0)
  with pytest.raises(ValueError, match="every must be >= 1"):
    _progress.Progress(4, every=0)
  with pytest.raises(ValueError, match="total must be >= start"):
    _progress.Progress(4, start=5)


def test_format_duration():
  assert [_progress.format_duration(s) for s in
          (0, 59.4, 60, 3599, 3600, float("nan"), -1)] == [
              "0s", "59s", "1m00s", "59m59s", "1h00m", "?", "?"]


def test_noise_functions_report_through_the_one_progress(capsys):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from acclip_optax import noise  # pylint: disable=g-import-not-at-top
  from acclip_optax.noise import _minibatch, _noise_scale, _tracking  # pylint: disable=g-import-not-at-top,g-multiple-import
  assert (_minibatch.Progress is _noise_scale.Progress is _tracking.Progress
          is _progress.Progress)

  def loss(w, batch):
    return jnp.mean((batch["x"] @ w) ** 2)

  def sample(seed, n):
    return {"x": jax.random.normal(jax.random.key(seed), (n, 3))}

  noise.minibatch_noise(loss, jnp.ones(3), sample, batch_size=4,
                        num_samples=20, progress=True)
  err = capsys.readouterr().err.splitlines()
  assert len(err) == 10 and err[-1].startswith("minibatch_noise[custom] 20/20")
  assert all("draws/s" in line and "ETA" in line for line in err)
