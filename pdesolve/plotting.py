"""Figures for solves and the demo (matplotlib, written straight to PNG files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (figures go straight to files)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_snapshot_strip(
    frames: np.ndarray, times: Sequence[float], path: str | Path, title: str = "", cmap: str = "RdBu_r"
) -> Path:
    """Plot 2D fields ``(n, x, y)`` side by side (shared symmetric colour scale) and save a PNG.

    1D fields ``(n, x)`` are drawn as overlaid curves instead.
    """
    plt = pyplot()
    frames = np.asarray(frames)
    path = Path(path)
    if frames.ndim == 2:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        x = np.arange(frames.shape[1])
        for frame, t in zip(frames, times):
            ax.plot(x, frame, label=f"t = {t:.3g}")
        ax.set_xlabel("grid index")
        ax.legend(fontsize=7)
        ax.set_title(title)
    else:
        n = len(frames)
        fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 2.6), squeeze=False)
        vmax = float(np.max(np.abs(frames))) or 1.0
        for ax, frame, t in zip(axes[0], frames, times):
            image = ax.imshow(frame.T, origin="lower", cmap=cmap, vmin=-vmax, vmax=vmax)
            ax.set_title(f"t = {t:.3g}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
        if title:
            fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_spectrum(
    spectra: Sequence[tuple[np.ndarray, np.ndarray, str]],
    path: str | Path,
    title: str = "",
    ylabel: str = "E(k)",
    cutoff: float | None = None,
) -> Path:
    """Log-log plot of shell spectra given as ``(k, E, label)`` triples; saves a PNG.

    `cutoff`: a dealiasing cutoff $k_c$, drawn as a dashed line; the modes beyond it are not
    resolved by a pseudo-spectral solver with that cutoff.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for k, e, label in spectra:
        mask = (k > 0) & (e > 0)
        ax.loglog(k[mask], e[mask], label=label)
    if cutoff is not None:
        ax.axvline(cutoff, color="0.4", linestyle="--", linewidth=1, label=f"dealiasing cutoff {cutoff:.3g}")
    ax.set_xlabel("wavenumber |k|")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path

__all__ = [
    "plot_snapshot_strip",
    "plot_spectrum",
    "pyplot",
]
