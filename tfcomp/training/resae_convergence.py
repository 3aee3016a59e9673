"""The residual autoencoder's stopping rule, as a Keras callback (tfcomp/training/resae_trainer.py uses it).

Every 100 epochs, fit a line to the last 100 epoch losses and measure the mean SSIM of the image set; stop
when |slope| < 1e-6, |SSIM change since the previous check| < 1e-3 and epoch > 500. (The essay prints
"1 x 10^6" and "1 x 10^3"; we read them as 1e-6 and 1e-3, the only readings under which the rule ever
stops.) An `--epochs` cap may stop earlier; the training record says which one stopped it.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


class ConvergenceRule(tf.keras.callbacks.Callback):
    """The essay's stopping rule: every `period` epochs, |slope of a line fitted to the last `period` losses|
    < slope_tol, |SSIM - SSIM at the previous check| < ssim_tol, and epoch > min_epochs.

    `ssim_fn()` measures the mean SSIM of the image set (called at checks only). The loss history and the
    previous SSIM are kept in `state` (a JSON-able dict) so a resumed run continues the rule where it was.
    """

    def __init__(self, ssim_fn, period: int = 100, slope_tol: float = 1e-6, ssim_tol: float = 1e-3,
                 min_epochs: int = 500, state: dict | None = None):
        super().__init__()
        self.ssim_fn, self.period, self.slope_tol, self.ssim_tol, self.min_epochs = (
            ssim_fn, period, slope_tol, ssim_tol, min_epochs)
        self.state = state if state is not None else {}
        self.state.setdefault("losses", [])
        self.state.setdefault("checks", [])
        self.state.setdefault("converged", False)

    @staticmethod
    def slope(losses: list[float]) -> float:
        """Least-squares slope of losses against epoch number."""
        return float(np.polyfit(np.arange(len(losses), dtype=np.float64), np.asarray(losses, np.float64), 1)[0])

    def check(self, epoch: int) -> bool:
        """Runs one check after `epoch` (1-based count of epochs done); True when the rule says stop."""
        window = self.state["losses"][-self.period:]
        slope = self.slope(window)
        ssim = float(self.ssim_fn())
        previous = self.state["checks"][-1]["ssim"] if self.state["checks"] else None
        converged = (abs(slope) < self.slope_tol and previous is not None and abs(ssim - previous) < self.ssim_tol
                     and epoch > self.min_epochs)
        self.state["checks"].append(dict(epoch=epoch, slope=slope, ssim=ssim, converged=converged))
        self.state["converged"] = converged
        return converged

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        """Records the epoch loss; at every period-th epoch applies the rule."""
        self.state["losses"].append(float((logs or {})["loss"]))
        done = epoch + 1
        if done % self.period == 0 and len(self.state["losses"]) >= 2 and self.check(done):
            self.model.stop_training = True
