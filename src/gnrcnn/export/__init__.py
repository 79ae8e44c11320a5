"""Exports: a model as an ONNX graph, or as a folder ready for the Hugging Face Hub."""
