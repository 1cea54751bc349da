"""Tiny datasets in the exact official formats, built for tests: CIFAR tarballs (binary and python versions), a
CelebA zip with its annotation files, an LSUN-layout lmdb, an image folder, a Hugging Face ``datasets`` folder.

Image content is seeded noise plus a class-dependent colour, so labels and pixels can be checked after decoding."""
from __future__ import annotations

import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar_rows(n: int, seed: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(rows (n, 3072) uint8 in the R-plane, G-plane, B-plane order, labels (n,))."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
    images[:, :8, :8] = (labels[:, None, None, None] * 25).astype(np.uint8)  # a class-coloured corner
    return images.transpose(0, 3, 1, 2).reshape(n, 3072).copy(), labels


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def cifar10_batches(per_batch: int = 12) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Batch name (python version) -> (rows, labels): five training batches and the test batch."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {name: cifar_rows(per_batch, seed) for seed, name in enumerate(names)}


def cifar10_binary(path: Path, per_batch: int = 12,
                   batches: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> Path:
    """cifar-10-binary.tar.gz: cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin + batches.meta.txt (``batches``:
    rows and labels per batch name, default ``cifar10_batches``)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, (rows, labels) in (batches or cifar10_batches(per_batch)).items():
            records = np.concatenate([labels.astype(np.uint8)[:, None], rows], axis=1)
            add_file(tar, f"cifar-10-batches-bin/{name}.bin", records.tobytes())
        add_file(tar, "cifar-10-batches-bin/batches.meta.txt", ("\n".join(CIFAR10_NAMES) + "\n\n").encode())
        add_file(tar, "cifar-10-batches-bin/readme.html", b"<html></html>")
    return path


def cifar10_python(path: Path, per_batch: int = 12, bytes_keys: bool = True, replace: dict[str, bytes] | None = None) -> Path:
    """cifar-10-python.tar.gz: cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} as protocol-2 pickles
    of dicts (bytes keys, as Python 3 sees the official Python 2 files with encoding='bytes', or str keys).
    ``replace`` swaps a member's bytes (e.g. a malicious pickle)."""
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    with tarfile.open(path, "w:gz") as tar:
        for name, (rows, labels) in cifar10_batches(per_batch).items():
            batch = {key("batch_label"): b"training batch", key("labels"): labels.tolist(), key("data"): rows,
                     key("filenames"): [f"img_{i}.png".encode() for i in range(len(rows))]}
            add_file(tar, f"cifar-10-batches-py/{name}", (replace or {}).get(name, pickle.dumps(batch, protocol=2)))
        meta = {key("label_names"): [n.encode() if bytes_keys else n for n in CIFAR10_NAMES],
                key("num_cases_per_batch"): per_batch, key("num_vis"): 3072}
        add_file(tar, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
        add_file(tar, "cifar-10-batches-py/readme.html", b"<html></html>")
    return path


def digit_batches(train_per_batch: int, test: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The bundled digits at 32 px as CIFAR batches (grey copied into R, G and B): real content for a CIFAR-format
    study that a LeNet metric can score."""
    from ganscape.data import build_dataset

    ds = build_dataset({"name": "digits", "size": 32})
    grey = ((ds.x[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    rows = np.concatenate([grey.reshape(len(grey), -1)] * 3, axis=1)  # planar R, G, B
    labels = ds.y.numpy()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    starts = [i * train_per_batch for i in range(5)] + [5 * train_per_batch]
    sizes = [train_per_batch] * 5 + [test]
    return {name: (rows[a:a + k], labels[a:a + k]) for name, a, k in zip(names, starts, sizes)}


class RunsACommand:
    """Pickles into a call of os.system: what a malicious dataset file would hold."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        import os

        return os.system, (self.command,)


def cifar100_python(path: Path, per_split: int = 10) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for seed, name in enumerate(("train", "test")):
            rows, fine = cifar_rows(per_split, seed, classes=100)
            batch = {b"data": rows, b"fine_labels": fine.tolist(), b"coarse_labels": (fine // 5).tolist()}
            add_file(tar, f"cifar-100-python/{name}", pickle.dumps(batch, protocol=2))
        meta = {b"fine_label_names": [f"class{i}".encode() for i in range(100)],
                b"coarse_label_names": [f"super{i}".encode() for i in range(20)]}
        add_file(tar, "cifar-100-python/meta", pickle.dumps(meta, protocol=2))
    return path


def jpeg(seed: int, size: tuple[int, int] = (178, 218), fmt: str = "JPEG") -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


CELEBA_ATTRIBUTES = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
                     "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
                     "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
                     "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
                     "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
                     "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
                     "Wearing_Necktie", "Young"]


def celeba(folder: Path, n: int = 12, partition: bool = True, attributes: bool = True) -> tuple[Path, np.ndarray]:
    """FOLDER/img_align_celeba.zip (img_align_celeba/000001.jpg ...) with list_eval_partition.txt (train/valid/test
    as 0/1/2) and list_attr_celeba.txt (the official header and -1/1 columns, two spaces between). Returns the zip
    and the 0/1 attribute matrix (n, 40)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    with zipfile.ZipFile(folder / "img_align_celeba.zip", "w") as archive:
        for i, name in enumerate(names):
            archive.writestr(f"img_align_celeba/{name}", jpeg(i))
    attrs = np.random.default_rng(1).integers(0, 2, (n, 40)).astype(np.uint8)
    if partition:
        parts = [0] * (n - n // 3) + [1] * (n // 6) + [2] * (n // 3 - n // 6)
        (folder / "list_eval_partition.txt").write_text("".join(f"{nm} {p}\n" for nm, p in zip(names, parts)))
    if attributes:
        lines = [str(n), " ".join(CELEBA_ATTRIBUTES) + " "]
        lines += [name + " " + " ".join(f"{2 * int(v) - 1:2d}" for v in row) for name, row in zip(names, attrs)]
        (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return folder / "img_align_celeba.zip", attrs


def lsun(folder: Path, n: int = 10, split: str = "train") -> Path:
    """FOLDER/bedroom_SPLIT_lmdb with data.mdb: 40-hex-digit ids -> WebP images (as the official LSUN files)."""
    import lmdb

    path = folder / f"bedroom_{split}_lmdb"
    env = lmdb.open(str(path), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for i in range(n):
            txn.put(f"{i:040x}".encode(), jpeg(i, (96, 72), "WEBP"))
    env.close()
    return path


def image_folder(folder: Path, per_class: int = 4, corrupt: bool = True) -> Path:
    """FOLDER/{cats,dogs}/NNN.png (and .jpg), plus one truncated file when ``corrupt``."""
    for c, name in enumerate(("cats", "dogs")):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            suffix = "png" if i % 2 else "jpg"
            (folder / name / f"{i:03d}.{suffix}").write_bytes(jpeg(10 * c + i, (40, 30), "PNG" if i % 2 else "JPEG"))
    if corrupt:
        (folder / "dogs" / "broken.jpg").write_bytes(jpeg(99)[:200])
    return folder


def hf_folder(folder: Path, n: int = 8) -> Path:
    """A DatasetDict saved with save_to_disk: train/test splits, columns img (Image) and label (ClassLabel)."""
    import datasets

    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    splits = {}
    for s, split in enumerate(("train", "test")):
        rows = {"img": [Image.open(io.BytesIO(jpeg(100 * s + i, (36, 36), "PNG"))) for i in range(n)],
                "label": [i % 3 for i in range(n)]}
        splits[split] = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict(splits).save_to_disk(str(folder))
    return folder
