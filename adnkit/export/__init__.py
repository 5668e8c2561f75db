"""ONNX export of a trained run and scoring it with onnxruntime."""
