"""Detectors that run exported models (the OpenVINO one; the ONNX one is engine/onnx_detector.py)."""
