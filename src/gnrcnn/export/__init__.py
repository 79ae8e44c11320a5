"""ONNX export: the exportable graph and its ops, the export and its parity check."""
