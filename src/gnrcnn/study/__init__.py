"""Studies: `gnrcnn study norm-vs-batch`, its plan and its report."""
