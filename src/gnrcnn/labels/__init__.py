"""Pre-labels: a model's detections written in each labelling tool's own import format (``gnrcnn predict
--labels``), and the ranking of what to label next (``gnrcnn rank``). docs/finetune.md, "The labelling loop"."""
