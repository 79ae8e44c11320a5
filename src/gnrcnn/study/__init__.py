"""Tools and studies: experiments that train many models and report on them (docs/study.md)."""
