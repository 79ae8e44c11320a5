"""Prediction: detectors (PyTorch, ONNX), images, folders, videos and tiles, and the files they write."""

from .detector import Detector, DetectorBase

__all__ = ["Detector", "DetectorBase"]
