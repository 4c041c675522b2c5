"""Training figures: the loss curve and prediction-vs-truth panels (PNG, same style as :mod:`pdesolve.plotting`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..plotting import pyplot


def plot_loss_curve(history: Sequence[dict], path, title: str = "") -> Path:
    """Training loss per epoch (and validation rollout error when recorded), log scale; saves a PNG."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.semilogy(epochs, [h["train_loss"] for h in history], marker="o", ms=3, label="train loss")
    if any("val_rollout_rel_l2" in h for h in history):
        e = [h["epoch"] for h in history if "val_rollout_rel_l2" in h]
        ax.semilogy(e, [h["val_rollout_rel_l2"] for h in history if "val_rollout_rel_l2" in h], marker="s", ms=3,
                    label="validation rollout rel. L2")
    ax.set_xlabel("epoch")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_prediction(truth: np.ndarray, prediction: np.ndarray, times: Sequence[float], path, title: str = "",
                    panels: int = 4, cmap: str = "RdBu_r") -> Path:
    """Truth, prediction and error of one rollout ``[t, c, *space]`` (channel 0) at a few times; saves a PNG.

    2D fields are drawn as images (rows: truth, prediction, error; shared symmetric colour
    scale for the first two); 1D fields as overlaid curves, one panel per time.
    """
    plt = pyplot()
    truth, prediction = np.asarray(truth)[:, 0], np.asarray(prediction)[:, 0]
    picks = np.unique(np.linspace(0, len(truth) - 1, min(panels, len(truth))).round().astype(int))
    n = len(picks)
    if truth.ndim == 2:  # [t, x]
        fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 2.6), squeeze=False)
        x = np.arange(truth.shape[1])
        for ax, k in zip(axes[0], picks):
            ax.plot(x, truth[k], "k-", lw=1.5, label="truth")
            ax.plot(x, prediction[k], "C3--", lw=1.2, label="prediction")
            ax.set_title(f"t = {times[k]:.3g}", fontsize=9)
        axes[0][0].legend(fontsize=7)
    else:
        fig, axes = plt.subplots(3, n, figsize=(2.4 * n, 7.2), squeeze=False)
        vmax = float(np.max(np.abs(truth[picks]))) or 1.0
        emax = float(np.max(np.abs(truth[picks] - prediction[picks]))) or 1.0
        for col, k in enumerate(picks):
            for row, (field, scale, label) in enumerate(
                ((truth[k], vmax, "truth"), (prediction[k], vmax, "prediction"), (prediction[k] - truth[k], emax, "error"))
            ):
                ax = axes[row][col]
                image = ax.imshow(field.T, origin="lower", cmap=cmap, vmin=-scale, vmax=scale)
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0:
                    ax.set_title(f"t = {times[k]:.3g}", fontsize=9)
                if col == 0:
                    ax.set_ylabel(label, fontsize=9)
                if col == n - 1:
                    fig.colorbar(image, ax=ax, shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10, y=1.04)
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
