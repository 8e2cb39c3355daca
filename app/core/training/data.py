"""Datasets for training: the built-in shapes, torchvision's downloadable sets, and folders of
the user's own images.

Small datasets live on the training device as uint8 tensors and are batched there (no
DataLoader, no per-sample Python); an image folder streams through a DataLoader with workers
and pinned memory. Every source reports its input shape, class names and normalisation.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from app.core.training.config import TrainConfig
from app.core.training.options import DATASETS
from app.core.training.portable.datasets import as_nchw
from app.core.training.portable.shapes import CLASSES, draw_shapes, make_shapes
from app.core.weight_sets import resize_side, weight_set


class DatasetError(Exception):
    """A dataset cannot be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    shape: tuple[int, int, int]
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_size: int
    val_size: int


class Split:
    """One side of a dataset (train or validation) that yields batches of (uint8 images on the
    device, int64 labels on the device).

    ``shard=(rank, world)`` gives each of ``world`` processes a disjoint, equally long part of
    the (shuffled) order, as DistributedSampler does, so every rank takes the same number of
    steps.
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def order(
        self, shuffle: bool, generator: torch.Generator | None, shard: tuple[int, int]
    ) -> torch.Tensor:
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        rank, world = shard
        if world > 1:
            order = order[: n - n % world][rank::world]
        return order

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        shard: tuple[int, int] = (0, 1),
        start: int = 0,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of (uint8 images, labels) in ``generator``'s order, from batch ``start``
        on (a run resumed mid-epoch: the batches before it are not loaded)."""
        raise NotImplementedError

    def num_batches(self, batch_size: int, drop_last: bool = False, world: int = 1) -> int:
        n = len(self) // world
        return n // batch_size if drop_last else math.ceil(n / batch_size)


class TensorSplit(Split):
    """Images and labels held on the device; batches are index slices."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        assert images.dtype == torch.uint8 and images.ndim == 4
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return self.labels.numel()

    def to(self, device: torch.device) -> TensorSplit:
        return TensorSplit(self.images.to(device), self.labels.to(device))

    def batches(
        self, batch_size, *, shuffle, generator=None, drop_last=False, shard=(0, 1), start=0
    ):
        if not shuffle and shard[1] == 1:  # plain slices: no index copies
            stop = len(self) - len(self) % batch_size if drop_last else len(self)
            for first in range(start * batch_size, stop, batch_size):
                end = first + batch_size
                yield self.images[first:end], self.labels[first:end]
            return
        order = self.order(shuffle, generator, shard).to(self.labels.device)
        stop = len(order) - len(order) % batch_size if drop_last else len(order)
        for first in range(start * batch_size, stop, batch_size):
            idx = order[first : first + batch_size]
            # index_select: 7x faster than advanced indexing for a 128-image batch on the CPU
            yield self.images.index_select(0, idx), self.labels.index_select(0, idx)


class LoaderSplit(Split):
    """A torch Dataset of uint8 CHW tensors streamed by a DataLoader (workers, pinned memory)."""

    def __init__(
        self, dataset: torch.utils.data.Dataset, device: torch.device, workers: int
    ) -> None:
        self.dataset, self.device, self.workers = dataset, device, workers

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def batches(
        self, batch_size, *, shuffle, generator=None, drop_last=False, shard=(0, 1), start=0
    ):
        order = self.order(shuffle, generator, shard).tolist()
        subset = torch.utils.data.Subset(self.dataset, order[start * batch_size :])
        loader = torch.utils.data.DataLoader(
            subset,
            batch_size=batch_size,
            shuffle=False,
            drop_last=drop_last,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            multiprocessing_context=_WORKER_START if self.workers else None,
        )
        for images, labels in loader:
            yield (
                images.to(self.device, non_blocking=True),
                labels.to(self.device, non_blocking=True),
            )


#: how DataLoader workers start: forked on Linux, as PyTorch's default there. The window's
#: training process is itself spawned, which makes spawn its default too, and each spawned
#: worker re-imported torch and the app: an epoch of 24 tiny images took 20 s instead of 0.1
_WORKER_START = "fork" if sys.platform == "linux" else None


@dataclass
class Data:
    info: DatasetInfo
    train: Split
    val: Split
    #: each validation image's object box (N, 4: x0, y0, x1, y1, inclusive), where the
    #: dataset knows it (the built-in shapes)
    val_boxes: torch.Tensor | None = None


def default_root() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("NetBuilder", appauthor=False)) / "datasets"


def load_data(
    config: TrainConfig, device: torch.device, image_size: tuple[int, int] | None = None
) -> Data:
    """Load the configured dataset onto ``device``. ``image_size`` (H, W) sets the size of the
    built-in images and of resized folder images (normally the graph's input size)."""
    source = DATASETS[config.dataset].source
    if source == "built_in":
        data = _shapes(config, device, image_size)
    elif source == "folder":
        data = _image_folder(config, device, image_size)
    else:
        data = _torchvision(config, device)
    if config.pretrained:  # the weights were trained on images normalised so
        ws = weight_set(config.pretrained)
        data.info = dataclasses.replace(data.info, mean=ws.mean, std=ws.std)
    return data


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round_().to(torch.uint8)


def _shapes(config: TrainConfig, device: torch.device, image_size: tuple[int, int] | None) -> Data:
    channels = DATASETS[config.dataset].channels
    size = image_size[0] if image_size else (28 if channels == 1 else 32)
    if size < 8 or (image_size and image_size[0] != image_size[1]):
        raise DatasetError(
            f"the built-in shapes are square images of at least 8×8; the network "
            f"expects {image_size}"
        )
    xtr, ytr = make_shapes(config.train_size, size, channels, seed=config.seed * 2 + 1)
    xva, yva, boxes = draw_shapes(config.val_size, size, channels, seed=config.seed * 2 + 2)
    mean = tuple(xtr.mean((0, 2, 3)).tolist())
    std = tuple(xtr.std((0, 2, 3)).tolist())
    info = DatasetInfo(
        name=f"Shapes {size}×{size}×{channels}",
        shape=(channels, size, size),
        classes=CLASSES,
        mean=mean,
        std=std,
        train_size=len(ytr),
        val_size=len(yva),
    )
    return Data(
        info,
        TensorSplit(_to_uint8(xtr), ytr).to(device),
        TensorSplit(_to_uint8(xva), yva).to(device),
        boxes,
    )


def _torchvision(config: TrainConfig, device: torch.device) -> Data:
    import torchvision

    spec = DATASETS[config.dataset]
    root = Path(config.data_dir) if config.data_dir else default_root() / spec.name
    cls = getattr(torchvision.datasets, spec.tv_class)

    def get(train: bool):
        kwargs = (
            {"split": "train" if train else "test"} if spec.split == "split" else {"train": train}
        )
        try:
            return cls(str(root), download=False, **kwargs)
        except (RuntimeError, FileNotFoundError):
            pass  # not downloaded yet
        try:
            root.mkdir(parents=True, exist_ok=True)
            return cls(str(root), download=True, **kwargs)
        except Exception as exc:  # URLError, socket errors, HTTP errors, bad checksums
            raise DatasetError(
                f"could not download {spec.title} into {root}: {_reason(exc)}. Check the "
                "internet connection, or download it on another machine and copy the files into "
                "that folder; the built-in 'shapes' dataset works offline."
            ) from None

    splits = []
    for train in (True, False):
        ds = get(train)
        labels = torch.as_tensor(getattr(ds, spec.labels), dtype=torch.long)
        splits.append(TensorSplit(as_nchw(ds.data), labels).to(device))
    ds = get(True)
    classes = tuple(getattr(ds, "classes", None) or (str(i) for i in range(spec.classes or 10)))
    shape = tuple(splits[0].images.shape[1:])
    info = DatasetInfo(
        spec.title,
        shape,  # type: ignore[arg-type]
        classes,
        spec.mean,
        spec.std,
        len(splits[0]),
        len(splits[1]),
    )
    return Data(info, splits[0], splits[1])


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", "") or exc) or type(exc).__name__
    return text.splitlines()[0][:200].rstrip(" :.")


class _FolderDataset(torch.utils.data.Dataset):
    def __init__(
        self,
        samples: list[tuple[str, int]],
        size: tuple[int, int],
        channels: int,
        resize: int | None = None,
    ) -> None:
        self.samples, self.size, self.channels = samples, size, channels
        self.resize = resize

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image
        from torchvision.transforms.functional import pil_to_tensor

        path, label = self.samples[i]
        with Image.open(path) as img:
            return pil_to_tensor(fit_image(img, self.size, self.channels, self.resize)), label


def fit_image(img, size: tuple[int, int], channels: int, resize: int | None = None):  # type: ignore[no-untyped-def]
    """A PIL image as the network takes it: ``channels`` channels, resized to ``size`` (H, W);
    with ``resize``, its shorter side resized to that first and the centre cropped."""
    from PIL import Image

    img = img.convert("L" if channels == 1 else "RGB")
    if resize is None:
        return img.resize((size[1], size[0]))
    w, h = img.size
    scale = resize / min(w, h)
    wide, high = max(size[1], round(w * scale)), max(size[0], round(h * scale))
    img = img.resize((wide, high), Image.Resampling.BILINEAR)
    w, h = img.size
    left, top = (w - size[1]) // 2, (h - size[0]) // 2
    return img.crop((left, top, left + size[1], top + size[0]))


def _image_folder(
    config: TrainConfig, device: torch.device, image_size: tuple[int, int] | None
) -> Data:
    from torchvision.datasets import ImageFolder

    root = Path(config.data_dir)
    if not config.data_dir or not root.is_dir():
        raise DatasetError(
            f"image folder {str(root)!r} does not exist: choose a folder with one "
            "sub-folder per class (or train/ and val/ folders of those)"
        )
    size = image_size or (224, 224)
    try:
        if (root / "train").is_dir() and (root / "val").is_dir():
            train = ImageFolder(str(root / "train"))
            val = ImageFolder(str(root / "val"))
            if train.classes != val.classes:
                raise DatasetError("train/ and val/ have different class folders")
            tr_samples, va_samples = train.samples, val.samples
            classes = train.classes
        else:
            full = ImageFolder(str(root))
            gen = torch.Generator().manual_seed(config.seed)
            order = torch.randperm(len(full.samples), generator=gen).tolist()
            n_val = max(1, round(len(order) * config.val_split))
            va_samples = [full.samples[i] for i in order[:n_val]]
            tr_samples = [full.samples[i] for i in order[n_val:]]
            classes = full.classes
    except (FileNotFoundError, OSError) as exc:
        raise DatasetError(f"cannot read images in {root}: {exc}") from None
    spec = DATASETS[config.dataset]
    channels = spec.channels
    info = DatasetInfo(
        root.name,
        (channels, *size),
        tuple(classes),
        spec.mean,
        spec.std,
        len(tr_samples),
        len(va_samples),
    )
    workers, resize = config.workers, resize_side(config.pretrained, size)
    return Data(
        info,
        LoaderSplit(_FolderDataset(tr_samples, size, channels, resize), device, workers),
        LoaderSplit(_FolderDataset(va_samples, size, channels, resize), device, workers),
    )
