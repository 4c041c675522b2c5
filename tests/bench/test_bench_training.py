"""``pdesolve bench training``: the JSON contract, ours-alone rows without PyTorch, and the
definitions the comparison rests on (the per-frame relative L2 loss and the parameter counts).
Speed is never asserted."""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdesolve._errors import InvalidInputError
from pdesolve.cli import main
from pdesolve.mp_pde import MPPDE
from pdesolve.neural_fields import parameter_count
from pdesolve.operators import FNO
from pdesolve.training import make_rollout_loss

ROW_KEYS = {"name", "ours_s", "anchor", "anchor_s", "ratio", "error_ours", "error_anchor", "model", "phase",
            "resolution", "batch_size", "params_ours", "timed_runs"}


@pytest.fixture(scope="module")
def without_torch_payload():
    """``pdesolve bench training --quick --json`` with ``import torch`` failing (as without the extra)."""
    saved = sys.modules.get("torch", "absent")
    sys.modules["torch"] = None  # makes `import torch` raise ImportError
    try:
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main(["bench", "training", "--quick", "--json"])
    finally:
        if saved == "absent":
            del sys.modules["torch"]
        else:
            sys.modules["torch"] = saved
    assert status == 0
    return json.loads(out.getvalue())


def test_json_contract_without_torch_says_the_anchor_is_absent(without_torch_payload):
    payload = without_torch_payload
    rows = {r["name"]: r for r in payload["results"]}
    assert list(rows) == ["fno2d_16_train", "fno2d_16_inference", "mp_pde_20_train", "mp_pde_20_train_pushforward",
                          "mp_pde_20_rollout"]
    for row in rows.values():
        assert ROW_KEYS <= set(row)
        assert row["ours_s"] > 0
        assert row["anchor_s"] is None and row["ratio"] is None
        assert "PyTorch is not importable" in row["skipped"] and '".[anchors]"' in row["skipped"]
    assert rows["fno2d_16_train"]["phase"] == "train" and rows["mp_pde_20_rollout"]["phase"] == "rollout"
    assert rows["mp_pde_20_train_pushforward"]["unrolls"] == 1 and rows["mp_pde_20_train"]["unrolls"] == 0
    # The quick FNO (width 8, 4 modes, 2 layers, projection 16; 10 frames + 2 coordinates in).
    assert rows["fno2d_16_train"]["params_ours"] == _fno_count(10, 1, 8, 4, 2, 16)
    assert payload["quick"] is True and payload["dtype"] == "float32" and payload["fno"]["transform"] == "RFFT"
    assert payload["threads"]["torch"] is None and payload["threads"]["jax"] >= 1
    assert "torch" not in payload["versions"]
    assert any(note.startswith("ours alone") for note in payload["notes"])
    # Provenance of a --json result.
    assert payload["command"] == "pdesolve bench training --quick --json"
    assert {"seed", "commit", "pdesolve_version", "date"} <= set(payload)


def test_fno_transform_option_reaches_the_model(capsys):
    assert main(["bench", "training", "--quick", "--json", "--model", "fno", "--no-anchors",
                 "--fno-transform", "dft"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["fno"]["transform"] == "TruncatedDFT" and "--fno-transform dft" in payload["command"]
    assert [row["name"] for row in payload["results"]] == ["fno2d_16_train", "fno2d_16_inference"]


def test_training_loss_of_the_first_step_is_recorded(without_torch_payload):
    # Random windows against random targets: the relative L2 of an untrained model is O(1).
    for row in without_torch_payload["results"]:
        if row["phase"] == "train" and row["model"] == "fno2d":
            assert 0.1 < row["loss_ours"] < 100


def test_format_training_table_lists_rows_and_reasons(without_torch_payload):
    from pdesolve.bench import format_training_table

    table = format_training_table(without_torch_payload)
    for row in without_torch_payload["results"]:
        assert row["name"] in table
    assert "anchor absent: PyTorch is not importable" in table
    synthetic = {"results": [{"name": "fno2d_32_train", "ours_s": 0.1, "anchor_s": 0.25, "ratio": 2.5,
                              "anchor": "neuraloperator", "params_ours": 926357, "params_anchor": 926357,
                              "loss_ours": 1.0, "loss_anchor": 1.0}]}
    line = next(line for line in format_training_table(synthetic).splitlines() if line.startswith("fno2d_32_train"))
    assert "2.50" in line and "926,357 / 926,357" in line and "loss 1 / 1" in line


def _fno_count(c_in, c_out, width, modes, layers, projection, ndim=2):
    """Parameters of the FNO from its definition (Li et al. 2021): lift, spectral, pointwise, projection."""
    lift = (c_in + ndim) * width + width
    spectral = layers * 2 * 2 ** (ndim - 1) * width * width * modes**ndim  # real and imaginary parts
    pointwise = layers * (width * width + width)
    project = width * projection + projection + projection * c_out + c_out
    return lift + spectral + pointwise + project


def test_parameter_count_of_the_paper_fno_matches_its_definition():
    model = FNO(10, 1, ndim=2, width=20, modes=12, num_layers=4, projection_width=128, key=jax.random.PRNGKey(0))
    assert parameter_count(model) == _fno_count(10, 1, 20, 12, 4, 128) == 926_357


def test_parameter_count_of_the_paper_mp_pde_matches_its_definition():
    K, H, p, layers = 25, 128, 3, 6
    model = MPPDE(dt=0.016, key=jax.random.PRNGKey(0), dtype=jnp.float32)
    encoder = (K + 2 + p) * H + H + H * H + H
    layer = ((2 * H + K + 1 + p) * H + H) + (H * H + H) + ((2 * H + p) * H + H) + (H * H + H)
    decoder = (1 * 8 * 16 + 8) + (8 * 1 * 14 + 1)
    assert parameter_count(model) == encoder + layers * layer + decoder


def test_rollout_loss_is_the_per_frame_relative_l2():
    """The training step's loss (one predicted frame per sample): the mean over samples of
    ||prediction_b - target_b||_2 / ||target_b||_2, each norm over channels and space."""
    rng = np.random.default_rng(0)
    prediction = rng.standard_normal((2, 5, 5))  # [c, x, y], returned for every sample
    targets = rng.standard_normal((3, 1, 2, 5, 5))  # [b, steps, c, x, y]
    inputs = rng.standard_normal((3, 4, 2, 5, 5))
    loss = make_rollout_loss()
    value = float(loss(lambda frames: jnp.asarray(prediction), (jnp.asarray(inputs), jnp.asarray(targets))))
    ratios = [np.linalg.norm(prediction - targets[b, 0]) / np.linalg.norm(targets[b, 0]) for b in range(3)]
    assert value == pytest.approx(np.mean(ratios), rel=1e-10)
    # Not the ratio of the batch norms.
    pooled = np.linalg.norm(prediction[None] - targets[:, 0]) / np.linalg.norm(targets)
    assert abs(value - pooled) > 1e-3


def test_bad_arguments_raise_invalid_input():
    from pdesolve.bench import run_training_benchmark

    with pytest.raises(InvalidInputError, match="models"):
        run_training_benchmark(models=("unet",))
    with pytest.raises(InvalidInputError, match="fno_resolutions"):
        run_training_benchmark(models=("fno",), fno_resolutions=(16,))
    with pytest.raises(InvalidInputError, match="repeats"):
        run_training_benchmark(repeats=0)
    with pytest.raises(InvalidInputError, match="mp_pde_resolutions"):
        run_training_benchmark(models=("mp-pde",), mp_pde_resolutions=(5,))


def test_anchor_loss_matches_the_definition():
    torch = pytest.importorskip("torch")
    from pdesolve.bench._torch_anchors import relative_l2_per_frame, torch_parameter_count

    rng = np.random.default_rng(1)
    prediction, target = rng.standard_normal((4, 1, 6, 6)), rng.standard_normal((4, 1, 6, 6))
    value = float(relative_l2_per_frame(torch, torch.from_numpy(prediction), torch.from_numpy(target)))
    expected = np.mean([np.linalg.norm(prediction[b] - target[b]) / np.linalg.norm(target[b]) for b in range(4)])
    assert value == pytest.approx(expected, rel=1e-12)
    layer = torch.nn.Linear(3, 2)
    layer.register_parameter("z", torch.nn.Parameter(torch.zeros(5, dtype=torch.cfloat)))
    assert torch_parameter_count(layer) == 3 * 2 + 2 + 2 * 5


@pytest.mark.slow
def test_anchor_models_match_ours():
    """With PyTorch and neuraloperator installed: equal parameter counts and the same function."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("neuralop")
    from pdesolve.bench._torch_anchors import fno_from_ours, mp_pde_from_ours, torch_parameter_count
    from pdesolve.mp_pde import radius_graph

    sizes = {"width": 20, "modes": 12, "num_layers": 4, "projection_width": 128}
    ours = FNO(10, 1, ndim=2, key=jax.random.PRNGKey(0), **sizes)
    theirs = fno_from_ours(ours, in_channels=10, out_channels=1, **sizes)
    assert torch_parameter_count(theirs) == parameter_count(ours) == 926_357
    x = np.random.default_rng(0).standard_normal((2, 10, 32, 32)).astype(np.float32)
    with torch.no_grad():
        out_t = theirs(torch.from_numpy(x)).numpy()
    out_j = np.asarray(jax.vmap(ours)(jnp.asarray(x, jnp.float32)))
    assert np.linalg.norm(out_t - out_j) / np.linalg.norm(out_j) < 1e-5

    nx = 40
    grid_x = np.arange(nx) * 16.0 / nx
    graph = radius_graph(grid_x, 3 * 16.0 / nx, 16.0)
    mp = MPPDE(dt=0.016, key=jax.random.PRNGKey(1), dtype=jnp.float32)
    rng = np.random.default_rng(2)
    u = np.tanh(rng.standard_normal((2, 25, nx))).astype(np.float32)
    t = np.array([0.4, 1.2], np.float32)
    theta = rng.uniform(size=(2, 3)).astype(np.float32)
    xj = jnp.asarray(grid_x, jnp.float32)
    out_j = np.asarray(jax.vmap(lambda w, s, th: mp(w, s, th, xj, graph))(jnp.asarray(u), jnp.asarray(t),
                                                                           jnp.asarray(theta)))
    variants = [False]
    try:
        import torch_geometric  # noqa: F401

        variants.append(True)
    except ImportError:
        pass
    for use_pyg in variants:
        mp_t = mp_pde_from_ours(mp, grid_x, graph, use_pyg=use_pyg)
        assert torch_parameter_count(mp_t) == parameter_count(mp)
        with torch.no_grad():
            out_t = mp_t(torch.from_numpy(u), torch.from_numpy(t), torch.from_numpy(theta)).numpy()
        assert np.linalg.norm(out_t - out_j) / np.linalg.norm(out_j) < 1e-5, use_pyg


@pytest.mark.slow
def test_threads_1_pins_the_process_to_one_cpu():
    import subprocess

    out = subprocess.run([sys.executable, "-m", "pdesolve", "bench", "training", "--quick", "--json", "--threads", "1",
                          "--model", "fno", "--no-anchors"], capture_output=True, text=True, timeout=600, check=True)
    payload = json.loads(out.stdout)
    assert payload["threads"]["jax"] == 1
    assert payload["command"] == "pdesolve bench training --model fno --no-anchors --threads 1 --quick --json"
