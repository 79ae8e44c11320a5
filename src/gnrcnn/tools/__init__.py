"""Commands around the model: benchmarks, the demo, weights conversion."""
