"""Exported models beyond the ONNX file: OpenVINO IR in fp32 and INT8 (the ONNX export itself is engine/export.py)."""
