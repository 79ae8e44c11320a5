"""Exports: the ONNX graph and its ops, the export and its parity check; a folder ready for the Hugging Face Hub."""
