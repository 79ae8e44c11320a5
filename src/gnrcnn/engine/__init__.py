"""Running the model: prediction, training, evaluation, benchmarks."""
