"""Exports: the ONNX graph and its ops, the export and its parity check; OpenVINO IR in fp32 or INT8; a folder ready
for the Hugging Face Hub."""
