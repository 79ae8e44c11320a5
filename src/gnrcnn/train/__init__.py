"""Training: the loop, its built parts, checkpoints, schedule, EMA, logging, best.pth and early stop."""
