"""Datasets: generate an HDF5 file with a reference solver, validate it, stream shuffled batches.

Generates 1D heat trajectories (random smooth initial data, spectral solver), prints the file's
layout (the same as ``pdesolve datasets info FILE``), then reads one epoch of shuffled training
batches with the background-prefetching :class:`~pdesolve.datasets.DataLoader` and plots a few
of them as space-time images. Run with ``python examples/datasets.py [--quick]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from pdesolve.datasets import DataLoader, describe_file, generate


def run(out: Path, quick: bool = False) -> dict:
    n, resolution = (16, 32) if quick else (64, 128)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "heat1d.h5"
        generate("heat1d", n, resolution, path, seed=0, progress=False)
        info = describe_file(path)  # raises DatasetError for a corrupt, truncated or foreign file
        print(f"{info['layout']}: {info['num_samples']} samples of {info['sample_shape']} ([t, x, channel])")

        seen, first = 0, None
        with DataLoader(path, batch_size=8, split="train", seed=0, input_steps=1) as loader:
            for inputs, targets in loader:  # [8, 1, x, 1] and [8, t - 1, x, 1], numpy
                seen += len(inputs)
                if first is None:
                    first = np.concatenate([inputs, targets], axis=1)[..., 0]  # [8, t, x]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(10, 2.6), sharey=True)
    for k, ax in enumerate(axes):
        ax.imshow(first[k], aspect="auto", origin="lower", cmap="RdBu_r")
        ax.set_title(f"batch sample {k}", fontsize=9)
        ax.set_xlabel("x index")
    axes[0].set_ylabel("saved time")
    figure = "datasets_heat1d_batch.png"
    fig.savefig(out / figure, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return {"num_samples": info["num_samples"], "sample_shape": info["sample_shape"], "train_samples_read": seen,
            "figures": [figure]}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import example_main

    example_main(run, __doc__)
