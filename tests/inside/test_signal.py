"""Signal propagation at initialisation (issue 19): the course's variance argument, measured
on a 20-layer ReLU conv chain."""

from __future__ import annotations

import pytest

from app.core.graph import Graph
from app.core.training.inside.signal import SignalError, compare, signal_propagation, to_csv


def relu_chain(depth: int = 20, width: int = 32) -> Graph:
    """``depth`` 3×3 convolutions with ReLUs, unpadded (zero padding would shrink the
    variance at the border, layer after layer), on an input that ends at 4×4."""
    g = Graph()
    side = 2 * depth + 4
    prev = g.add_node("input", {"channels": width, "height": side, "width": side}).id
    for _ in range(depth):
        for type_id, params in (
            ("conv2d", {"out_channels": width, "bias": False}),
            ("relu", {}),
        ):
            node = g.add_node(type_id, params).id
            g.connect(prev, node)
            prev = node
    return g


def test_he_keeps_a_relu_chain_s_variance_while_lecun_and_default_shrink_it():
    """The variance argument is about the average over draws of the weights: one network of
    finite width wanders around it (128 channels, one draw: 10-60% off by layer 20), so He
    is measured over 8 draws; LeCun's and the default's shrinking shows in any one."""
    chain = relu_chain(20, 128)
    he = signal_propagation(chain, "he_normal", batch=2, draws=8)
    lecun, default = compare(chain, ["lecun", "default"], batch=2)
    assert len(he.layers) == 20
    assert he.worst_act_drift() <= 0.25  # within ±25% of the first layer at every depth
    # LeCun halves the variance at every ReLU: 19 layers shrink the spread by about 2^-9.5
    assert lecun.act_ratio() < 0.01
    # PyTorch's default (Kaiming-uniform with a=√5: variance 1/(3·fan_in)) shrinks it faster
    assert default.act_ratio() < lecun.act_ratio()
    assert he.layers[0].act_std == pytest.approx(lecun.layers[0].act_std * 2**0.5, rel=0.1)
    assert all(layer.grad_std > 0 for layer in he.layers)


def test_the_csv_has_a_row_per_layer_and_initialiser():
    reports = compare(relu_chain(3, 8), ["he_normal", "xavier_uniform"], batch=4)
    rows = to_csv(reports).splitlines()
    assert rows[0] == "init,depth,node,module,block,activation_std,gradient_std"
    assert len(rows) == 1 + 2 * 3
    assert rows[1].startswith("he_normal,1,conv2d_1,conv2d_1,conv2d,")


def test_a_network_with_errors_is_refused_with_the_reason():
    g = relu_chain(1, 4)
    g.set_params("conv2d_1", {"kernel_h": 30})
    with pytest.raises(SignalError, match="the network has errors"):
        signal_propagation(g, "he_normal")


def test_the_inspect_signal_command_writes_the_figure_and_the_numbers(tmp_path, capsys):
    from PIL import Image

    from app.cli import main

    png, csv = tmp_path / "signal.png", tmp_path / "signal.csv"
    args = ["inspect", "signal", "presets:lenet5", "--init", "he_normal,lecun"]
    assert main([*args, "--batch", "4", "-o", str(png), "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("he_normal       activations ×") and "\nlecun " in out
    with Image.open(png) as img:
        assert img.size[0] > 800
    assert len(csv.read_text().splitlines()) == 1 + 2 * 5  # LeNet-5's 5 layers with weights
    assert main(["inspect", "signal", "presets:lenet5", "--init", "glorot"]) == 2
    assert "unknown initialiser glorot: choose from default, lecun" in capsys.readouterr().err
