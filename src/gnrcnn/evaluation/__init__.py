"""COCO evaluation: the one COCOeval wrapper and `gnrcnn eval`."""
