"""The exporters: a layer above the engine (``app.core.training``), which they may read, and
above the core model, which never imports them. Model code (``model_code``), the training
script (``train_script``), weights, ONNX, TorchScript and bundles (``artifacts``), and the
export jobs the window runs in a worker process (``jobs``)."""
