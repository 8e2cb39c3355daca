"""Import a PyTorch model onto the canvas: trace it with ``torch.fx``, map each module and
function onto catalogue blocks, keep every module path and weight (``imports.fx_map``), from a
torchvision name or a Python file (``imports.sources``)."""
