"""Training: what a run is built from, how it steps, what it logs and saves."""
