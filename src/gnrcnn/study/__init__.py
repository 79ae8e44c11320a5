"""Studies that train many models and report on them (docs/study.md): norm-vs-batch, classify, group-sweep."""
