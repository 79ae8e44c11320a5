"""A built model with its config and preprocessing: images in, per-image ``Instances`` out."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Iterator

import torch

from .. import runtime
from ..config.schema import Config
from ..data.preprocess import ImageInput, Preprocessor, to_rgb_array
from ..modeling import MaskRCNN, to_instances
from ..structures import ImageMeta, Instances
from .loop import make_runner


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(itertools.chain(model.parameters(), model.buffers()), torch.empty(0)).device


class DetectorBase:
    """What a detector offers on top of its ``run_batch``: predictions for files, arrays or tensors,
    one image at a time or in batches, with class names. ``Detector`` and ``OnnxDetector`` share it."""

    cfg: Config
    preprocessor: Preprocessor

    def run_batch(self, batch: torch.Tensor, sizes: torch.Tensor, metas: list[ImageMeta]) -> list[Instances]:
        raise NotImplementedError

    @property
    def class_names(self) -> list[str]:
        return list(self.cfg.data.class_names)

    def named(self, out: list[Instances]) -> list[Instances]:
        """``out`` with the config's class names and category ids (made by the caller: nobody else holds them)."""
        names, ids = tuple(self.cfg.data.class_names), tuple(self.cfg.data.category_ids)
        for inst in out:
            inst.class_names, inst.category_ids = names, ids
        return out

    def iter_predict(self, images: Iterable[ImageInput], color: str | None = None, batch_size: int = 1
                     ) -> Iterator[Instances]:  # fmt: skip
        """Results one image at a time, reading ``images`` lazily in batches of ``batch_size``, through the
        runner the config's ``predict`` section asks for (``loop.make_runner``: tiles, test-time augmentation),
        as ``gnrcnn predict`` runs them."""
        runner = make_runner(self, batch_size)
        it = iter(images)
        while chunk := list(itertools.islice(it, runner.batch_size)):
            for result in runner.run([runner.prepare(*to_rgb_array(im, color), keep_image=False) for im in chunk]):
                yield result if isinstance(result, Instances) else result.dense()

    def predict(
        self, images: list[ImageInput] | ImageInput, color: str | None = None, batch_size: int = 1
    ) -> list[Instances]:
        """File paths, H x W x 3 uint8 arrays or 3 x H x W / H x W x 3 uint8 tensors.

        ``color`` is the channel order of arrays and tensors: by default numpy arrays are BGR, as
        ``cv2.imread`` gives them and as detectron2's and MMDetection's predictors take them, and tensors
        RGB, as ``torchvision.io`` decodes them; ``color="rgb"`` for an array from PIL or matplotlib.

        Batch size 1 reproduces the reference exactly: in a batch every image is zero-padded to the
        largest, and GroupNorm statistics include that padding (in an exported graph as in PyTorch).
        """
        if not isinstance(images, (list, tuple)):
            images = [images]
        return list(self.iter_predict(images, color, batch_size))

    def __call__(self, images: list[ImageInput] | ImageInput, color: str | None = None, batch_size: int = 1
                 ) -> list[Instances]:  # fmt: skip
        return self.predict(images, color, batch_size)


class Detector(DetectorBase):
    """``Detector(cfg, model)(images)`` -> list of ``Instances`` in original-image pixels.

    The model is lent, not given: the detector never changes it. Where it needs another device, bf16
    weights or compiled parts, it works on its own copy; lent in training mode, the model runs in
    inference mode during each call and is handed back as it was. ``owns_model=True`` says the
    detector may change the model itself (no copy), as ``gnrcnn.load_model`` does with the model it
    builds.
    """

    def __init__(
        self, cfg: Config, model: MaskRCNN, *, device: torch.device | str | None = None, amp: str | None = None,
        compile: bool = False, owns_model: bool = False,
    ) -> None:  # fmt: skip
        self.cfg = cfg
        self.device = torch.device(device) if device is not None else _device_of(model)
        self.amp = amp = runtime.choose_amp(self.device, amp)
        if not owns_model and (compile or amp == "bf16" or _device_of(model) != self.device):
            model, owns_model = copy.deepcopy(model), True
        self.model = model.to(self.device)
        self.owns_model = owns_model
        if owns_model:
            self.model.eval()
        if amp == "bf16":
            runtime.cast_to_bf16_in_place(self.model)
            if cfg.model.channels_last == "heads":
                # "heads" keeps the fp32 FPN bit-exact; bf16 is not exact anyway, and oneDNN's bf16
                # convolutions reorder NCHW maps around every call (R-50: 33% of the time in copies).
                self.model.set_memory_layout("all")
        if compile:
            self.model.compile_in_place()  # the detector's own copy (above)
        self.preprocessor = Preprocessor(cfg.input, self.device)

    @torch.inference_mode()
    def run_batch(self, batch: torch.Tensor, sizes: torch.Tensor, metas: list[ImageMeta]) -> list[Instances]:
        """The network on an already preprocessed batch (see ``Preprocessor``)."""
        with runtime.eval_mode(self.model), runtime.autocast(self.device, self.amp):
            dets, probs = self.model(batch.to(self.device), sizes.to(self.device))
        m = self.cfg.model
        return self.named(to_instances(dets, probs, metas, mask_thr=m.roi.mask_thr, box_arithmetic=m.box_arithmetic))
