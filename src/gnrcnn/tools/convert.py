"""``gnrcnn convert``: any supported weights file -> gnrcnn's own checkpoint format (``.safetensors``: that
format, with the config and class names in its metadata)."""

from __future__ import annotations

from ..build import build_with_weights, read_weights, resolve_config
from ..errors import GnrcnnError
from ..fileio import save_torch_atomic
from ..weights import LoadedWeights, gnrcnn_checkpoint
from ..weights.safetensors_file import save_safetensors


def guess_config(loaded: LoadedWeights) -> str:
    """The seed config whose architecture and pixel convention fit these weights."""
    if loaded.format == "gnrcnn" and loaded.config:
        return ""
    sd = loaded.state_dict
    blocks3 = {k.split(".")[2] for k in sd if k.startswith("backbone.layer3.")}
    depth = {6: 50, 23: 101}.get(len(blocks3))
    if depth is None:
        raise GnrcnnError("cannot tell which config these weights belong to; pass --config NAME")
    meta_text = str(loaded.meta.get("config", "")) + str(loaded.meta.get("init_from", ""))
    contrib = "contrib" in meta_text or "123.675" in meta_text.split("mean")[-1][:40]
    return f"mask-rcnn_r{depth}{'-contrib' if contrib else ''}_fpn_gn-all_2x_coco"


def convert(src: str, dst: str, config: str | None = None, overrides: list[str] | None = None) -> str:
    """``src`` (a file, URL or zoo name) -> ``dst`` in gnrcnn's format; returns a one-line summary."""
    path, loaded = read_weights(src)
    if path is None or loaded is None:
        raise GnrcnnError("convert: 'none' names no weights to convert")
    cfg = resolve_config(config or guess_config(loaded) or None, loaded, overrides)
    model = build_with_weights(cfg, loaded, str(path))
    meta = {"source": path.name, "source_format": loaded.format, **{k: v for k, v in loaded.meta.items()
            if isinstance(v, (str, int, float, bool))}}  # fmt: skip
    ckpt = gnrcnn_checkpoint(model, cfg.to_dict(), meta)
    if loaded.backbone_only:
        ckpt["model"] = {k: v for k, v in ckpt["model"].items() if k.startswith("backbone.")}
    if dst.lower().endswith(".safetensors"):
        save_safetensors(ckpt, dst)
    else:
        save_torch_atomic(ckpt, dst)
    n = sum(v.numel() for v in ckpt["model"].values())
    ignored = f"; ignored {len(loaded.ignored)} entries ({', '.join(loaded.ignored[:4])})" if loaded.ignored else ""
    return f"{src} ({loaded.format}) -> {dst}: config {cfg.name}, {len(ckpt['model'])} tensors, {n} values{ignored}"
