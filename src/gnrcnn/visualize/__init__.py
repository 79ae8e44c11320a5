"""Pictures of detections: what predict, analyze, serve and the API draw."""
