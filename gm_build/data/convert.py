"""Parquet shards of the Hub mirrors -> the raw layouts gm_lib's loaders read, after checking schema and rows.

SVHN (``ufldl-stanford/svhn``, ``cropped_digits``): column ``image`` {bytes (PNG), path} and ``label`` (0-9)
-> ``SVHN/{train,test}_32x32.mat`` as torchvision's source has them: uint8 ``X`` (32, 32, 3, N), ``y`` (N, 1)
with digit 0 stored as 10.

CelebA (``flwrlabs/celeba``, ``img_align+identity+attr``): column ``image`` {bytes, path}, ``celeb_id`` and 40
attributes -> ``celeba/img_align_celeba/<number>.<jpg|png>`` holding the served bytes unchanged, numbered in the
official order (train shards, then valid, then test: CelebA's partition is contiguous, 000001-162770 train,
162771-182637 valid, 182638-202599 test), and ``celeba/list_eval_partition.txt``. File names come from the
position, never from the file (nothing in a download picks a path).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from gm_build.data.errors import FetchError

__all__ = ["check_schema", "convert_svhn", "convert_celeba", "CELEBA_COLUMNS", "SVHN_COLUMNS"]

SVHN_COLUMNS = {"image": ("bytes", "path"), "label": ()}
CELEBA_COLUMNS = {"image": ("bytes", "path"), "celeb_id": ()}
_SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}


def check_schema(label: str, path: Path, columns: dict[str, tuple[str, ...]], rows: int | None) -> int:
    """Raise a one-line ``schema`` FetchError unless the parquet file has ``columns`` (struct fields too) and ``rows``.

    Returns the file's row count.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise FetchError(label, "schema", f"{path.name} is not a parquet file ({error})") from None
    schema = handle.schema_arrow
    for column, fields in columns.items():
        if column not in schema.names:
            raise FetchError(label, "schema", f"{path.name} has columns {schema.names[:8]}, no {column!r}")
        kind = schema.field(column).type
        have = {kind.field(i).name for i in range(kind.num_fields)} if pa.types.is_struct(kind) else set()
        if fields and not set(fields) <= have:
            expected = f"a struct of {fields}"
            raise FetchError(label, "schema", f"{path.name}: column {column!r} is {kind}, expected {expected}")
    found = handle.metadata.num_rows
    if rows is not None and found != rows:
        raise FetchError(label, "schema", f"{path.name} has {found} rows, the pin says {rows}")
    return found


def _image_bytes(path: Path):
    """Each row's encoded image bytes, in file order."""
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(columns=["image"], batch_size=512):
        yield from batch.column("image").field("bytes").to_pylist()


def convert_svhn(label: str, shards: Iterable[tuple[str, Path]], split_rows: dict[str, int], staging: Path) -> None:
    """Write ``staging/{split}_32x32.mat`` for each split (scipy's MATLAB v5, as the original files).

    ``shards`` yields ``(split, parquet file)``; each file is read whole before the next is asked for.
    """
    import io

    import pyarrow.parquet as pq
    from PIL import Image, UnidentifiedImageError

    images: dict[str, list[np.ndarray]] = {split: [] for split in split_rows}
    labels: dict[str, list[int]] = {split: [] for split in split_rows}
    for split, path in shards:
        for data in _image_bytes(path):
            try:
                with Image.open(io.BytesIO(data or b"")) as image:
                    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
            except (UnidentifiedImageError, OSError, ValueError):
                raise FetchError(label, "schema", f"{path.name} holds an image PIL cannot decode") from None
            if array.shape != (32, 32, 3):
                raise FetchError(label, "schema", f"{path.name} holds a {array.shape} image, SVHN's are 32x32x3")
            images[split].append(array)
        labels[split].extend(pq.read_table(path, columns=["label"]).column("label").to_pylist())
    for split, expected in split_rows.items():
        _check_rows(label, split, len(images[split]), expected)
        _write_svhn_mat(label, split, images[split], labels[split], staging)


def _write_svhn_mat(label: str, split: str, images: list[np.ndarray], labels: list[int], staging: Path) -> None:
    from scipy.io import savemat

    y = np.asarray(labels, dtype=np.int64)
    if len(y) != len(images) or y.min() < 0 or y.max() > 9:
        raise FetchError(label, "schema", f"{split}: {len(y)} labels spanning {y.min()}..{y.max()} for "
                                          f"{len(images)} images; expected one digit 0..9 each")
    x = np.stack(images, axis=-1)  # (32, 32, 3, N), torchvision's .mat layout
    y = np.where(y == 0, 10, y).astype(np.uint8).reshape(-1, 1)  # the .mat stores digit 0 as 10
    savemat(staging / f"{split}_32x32.mat", {"X": x, "y": y}, format="5", do_compression=False)


def convert_celeba(label: str, shards: Iterable[tuple[str, Path]], split_rows: dict[str, int], staging: Path) -> None:
    """Write ``staging/img_align_celeba/*`` and ``staging/list_eval_partition.txt``, numbered in ``shards``' order.

    ``shards`` yields ``(split, parquet file)`` with every train shard first, then valid, then test (the official
    numbering); each file is written out before the next is asked for.
    """
    folder = staging / "img_align_celeba"
    folder.mkdir(parents=True, exist_ok=True)
    lines, counts, order = [], dict.fromkeys(split_rows, 0), list(_SPLIT_CODES)
    for split, path in shards:
        if lines and _SPLIT_CODES[split] < int(lines[-1].split()[1]):
            raise FetchError(label, "schema", f"{path.name} ({split}) comes after a later split: order {order}")
        for data in _image_bytes(path):
            counts[split] += 1
            name = f"{len(lines) + 1:06d}{_extension(label, path, data)}"
            (folder / name).write_bytes(data)
            lines.append(f"{name} {_SPLIT_CODES[split]}")
    for split, expected in split_rows.items():
        _check_rows(label, split, counts[split], expected)
    (staging / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")


def _extension(label: str, path: Path, data: bytes | None) -> str:
    if data and data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data and data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    raise FetchError(label, "schema", f"{path.name} holds an image that is neither JPEG nor PNG")


def _check_rows(label: str, split: str, found: int, expected: int) -> None:
    if found != expected:
        raise FetchError(label, "schema", f"split {split!r} has {found} images, expected {expected}")
