"""Result analysis: matching results to ground truth, the pictures and the summary of `gnrcnn analyze`."""
