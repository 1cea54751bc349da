"""Real datasets end to end, on tiny files in the exact official formats (built by ``datafiles``): CIFAR-10/100
tarballs (binary and python versions), a CelebA zip with its partition and attribute files, an LSUN-layout lmdb, an
image folder with a corrupt file, a Hugging Face ``datasets`` folder. Each is prepared, compared with an independent
decode of the same bytes, and trained on; a small study runs on CIFAR-format data; bad input is one line."""
from __future__ import annotations

import io
import json
import logging
import pickle
import re
import shutil
import tarfile
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import datafiles
from cli_helpers import ganscape, snapshot
from ganscape.config import dump_yaml
from ganscape.data import build_dataset
from ganscape.data.prepare import prepare
from ganscape.loading import load_sampler
from ganscape.registry import ConfigError
from ganscape.training import Trainer

TRAIN = {"steps": 2, "batch_size": 4, "log_every": 1, "checkpoint_every": 0, "sample_every": 0}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("downloads")
    datafiles.cifar10_binary(folder / "cifar-10-binary.tar.gz")
    datafiles.cifar10_python(folder / "cifar-10-python.tar.gz")
    datafiles.cifar10_python(folder / "cifar-10-python-str-keys.tar.gz", bytes_keys=False)
    datafiles.cifar100_python(folder / "cifar-100-python.tar.gz")
    datafiles.celeba(folder / "celeba")
    datafiles.lsun(folder)
    datafiles.image_folder(folder / "pets")
    datafiles.hf_folder(folder / "hf_saved")
    return folder


@pytest.fixture(scope="module")
def root(files, tmp_path_factory) -> Path:
    """A data root with every dataset prepared once (CelebA at 32 px to keep training fast)."""
    root = tmp_path_factory.mktemp("data_root")
    prepare("cifar10", files / "cifar-10-binary.tar.gz", root)
    prepare("cifar100", files / "cifar-100-python.tar.gz", root)
    prepare("celeba", files / "celeba" / "img_align_celeba.zip", root, size=32)
    prepare("lsun", files / "bedroom_train_lmdb", root, size=32)
    prepare("folder", files / "pets", root, labels=True, size=32)
    prepare("hf", files / "hf_saved", root, dataset="tiny_hf", image_column="img", label_column="label", size=32)
    return root


def planar_decode(rows: np.ndarray) -> np.ndarray:
    """The CIFAR record layout read pixel by pixel: value (c, y, x) sits at c*1024 + y*32 + x."""
    out = np.zeros((len(rows), 32, 32, 3), np.uint8)
    for c in range(3):
        for y in range(32):
            out[:, y, :, c] = rows[:, c * 1024 + y * 32: c * 1024 + y * 32 + 32]
    return out


# ----- CIFAR -------------------------------------------------------------------------------------------------
def test_cifar_binary_and_python_equal_an_independent_decode(files, tmp_path):
    batches = datafiles.cifar10_batches()
    train_rows = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    train_labels = np.concatenate([batches[f"data_batch_{i}"][1] for i in range(1, 6)])
    for version in ("binary", "python", "python-str-keys"):
        folder, written = prepare("cifar10", files / f"cifar-10-{version}.tar.gz", tmp_path / version)
        assert written
        assert np.array_equal(np.load(folder / "train.npy"), planar_decode(train_rows))
        assert np.array_equal(np.load(folder / "train_labels.npy"), train_labels)
        assert np.array_equal(np.load(folder / "test.npy"), planar_decode(batches["test_batch"][0]))
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["class_names"] == datafiles.CIFAR10_NAMES
        assert manifest["splits"]["train"]["n"] == 60 and manifest["splits"]["test"]["n"] == 12
        assert manifest["archive"] == {"version": version.split("-")[0], "official": False}
    binary, python = (np.load(tmp_path / v / "cifar10" / "32px" / "train.npy") for v in ("binary", "python"))
    assert binary.tobytes() == python.tobytes()


def test_cifar100_keeps_fine_labels_and_names(root):
    ds = build_dataset({"name": "cifar100", "root": str(root)})
    assert ds.num_classes == 100 and len(ds) == 10 and ds.info["class_names"].split(",")[7] == "class7"
    _, fine = datafiles.cifar_rows(10, 0, classes=100)
    assert torch.equal(ds.y, torch.from_numpy(fine))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = pickle.dumps(datafiles.RunsACommand(f"touch {marker}"), protocol=2)
    archive = datafiles.cifar10_python(tmp_path / "cifar-10-python.tar.gz", replace={"data_batch_1": evil})
    root = tmp_path / "root"
    done = ganscape("data", "prepare", "cifar10", "--from", str(archive), "--root", str(root))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "data_batch_1" in done.stderr and "system" in done.stderr and "refusing" in done.stderr
    assert not marker.exists()
    assert not (root / "cifar10" / "32px").exists() and not list(root.rglob("*.npy"))


def test_unofficial_archive_is_used_with_one_warning(files, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        prepare("cifar10", files / "cifar-10-binary.tar.gz", tmp_path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "not the official cifar10 archive" in warnings[0]


def test_preparing_again_is_a_no_op_and_other_options_prepare_again(files, tmp_path):
    source = files / "cifar-10-binary.tar.gz"
    folder, _ = prepare("cifar10", source, tmp_path)
    before = snapshot(tmp_path)
    assert prepare("cifar10", source, tmp_path) == (folder, False)
    assert snapshot(tmp_path) == before
    resized, written = prepare("cifar10", source, tmp_path, size=16)
    assert written and resized.name == "16px" and np.load(resized / "train.npy").shape == (60, 16, 16, 3)


# ----- CelebA, LSUN, folders, Hugging Face ------------------------------------------------------------------------
def celeba_reference(zip_path: Path, name: str, size: int, crop: int = 108) -> np.ndarray:
    """The usual GAN crop done by hand: the centred crop x crop box of a 178 x 218 image, bicubic resize."""
    with zipfile.ZipFile(zip_path) as archive:
        img = Image.open(io.BytesIO(archive.read(f"img_align_celeba/{name}"))).convert("RGB")
    left, top = (178 - crop) // 2, (218 - crop) // 2
    return np.asarray(img.crop((left, top, left + crop, top + crop)).resize((size, size), Image.BICUBIC))


def test_celeba_partition_attributes_and_crop(files, root):
    zip_path = files / "celeba" / "img_align_celeba.zip"
    folder = root / "celeba" / "32px"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {k: v["n"] for k, v in manifest["splits"].items()} == {"train": 8, "valid": 2, "test": 2}
    assert manifest["attribute_names"] == datafiles.CELEBA_ATTRIBUTES
    _, attributes = datafiles.celeba(files / "celeba_again")  # same seed: the same attribute matrix
    assert np.array_equal(np.load(folder / "train_attributes.npy"), attributes[:8])
    assert np.array_equal(np.load(folder / "test_attributes.npy"), attributes[10:])
    images = np.load(folder / "valid.npy")
    assert np.array_equal(images[1], celeba_reference(zip_path, "000010.jpg", 32))


def celeba_folder(files: Path, tmp_path: Path) -> Path:
    """The test zip extracted to tmp_path/celeba/img_align_celeba/, its two annotation files beside it."""
    with zipfile.ZipFile(files / "celeba" / "img_align_celeba.zip") as archive:
        archive.extractall(tmp_path / "celeba")
    for name in ("list_eval_partition.txt", "list_attr_celeba.txt"):
        (tmp_path / "celeba" / name).write_bytes((files / "celeba" / name).read_bytes())
    return tmp_path / "celeba"


def test_celeba_folder_equals_zip_and_no_partition_means_one_split(files, root, tmp_path):
    celeba_folder(files, tmp_path)
    folder, _ = prepare("celeba", tmp_path / "celeba" / "img_align_celeba", tmp_path / "root", size=32)
    for split in ("train", "valid", "test"):
        assert np.array_equal(np.load(folder / f"{split}.npy"), np.load(root / "celeba" / "32px" / f"{split}.npy"))
    (tmp_path / "celeba" / "list_eval_partition.txt").unlink()
    folder, written = prepare("celeba", tmp_path / "celeba" / "img_align_celeba", tmp_path / "root", size=32)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert written and list(manifest["splits"]) == ["train"] and manifest["splits"]["train"]["n"] == 12


def test_celeba_in_the_official_download_layout_finds_its_partition_and_attributes(files, root, tmp_path, caplog):
    """CelebA/Img/img_align_celeba.zip with CelebA/Eval/ and CelebA/Anno/ beside Img/, as the download unpacks;
    without the text files, one train split and a warning for each."""
    download = tmp_path / "CelebA"
    for folder, name in (("Img", "img_align_celeba.zip"), ("Eval", "list_eval_partition.txt"),
                         ("Anno", "list_attr_celeba.txt")):
        (download / folder).mkdir(parents=True)
        (download / folder / name).write_bytes((files / "celeba" / name).read_bytes())
    folder, _ = prepare("celeba", download / "Img" / "img_align_celeba.zip", tmp_path / "root", size=32)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {k: v["n"] for k, v in manifest["splits"].items()} == {"train": 8, "valid": 2, "test": 2}
    for split in ("train", "valid", "test"):
        for part in ("", "_attributes"):
            assert np.array_equal(np.load(folder / f"{split}{part}.npy"),
                                  np.load(root / "celeba" / "32px" / f"{split}{part}.npy"))
    for name in ("Eval/list_eval_partition.txt", "Anno/list_attr_celeba.txt"):
        (download / name).unlink()
    with caplog.at_level(logging.WARNING, logger="ganscape.data.prepare"):
        folder, _ = prepare("celeba", download / "Img" / "img_align_celeba.zip", tmp_path / "root", size=32)
    assert list(json.loads((folder / "manifest.json").read_text())["splits"]) == ["train"]
    warned = [r.getMessage() for r in caplog.records]
    assert any("list_eval_partition.txt" in m and "one train split" in m for m in warned)
    assert any("list_attr_celeba.txt" in m and "no attributes" in m for m in warned)


def test_lsun_lmdb_values_are_decoded_and_centre_cropped(files, root):
    import lmdb

    images = np.load(root / "lsun_bedroom" / "32px" / "train.npy")
    with lmdb.open(str(files / "bedroom_train_lmdb"), readonly=True, lock=False) as env, env.begin() as txn:
        first = txn.get(f"{0:040x}".encode())
    img = Image.open(io.BytesIO(first)).convert("RGB")  # 96 x 72: the centred 72 x 72 square
    expected = np.asarray(img.crop((12, 0, 84, 72)).resize((32, 32), Image.BICUBIC))
    assert images.shape == (10, 32, 32, 3) and np.array_equal(images[0], expected)


def test_folder_skips_the_corrupt_image_in_one_line_and_labels_by_subfolder(files, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        folder, _ = prepare("folder", files / "pets", tmp_path, labels=True, size=16)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "skipped 1 unreadable image(s) of 9" in warnings[0]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["class_names"] == ["cats", "dogs"] and manifest["skipped"] == 1
    assert np.load(folder / "train_labels.npy").tolist() == [0] * 4 + [1] * 4
    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted((files / "pets").rglob("*.*")):
            z.write(path, path.relative_to(files / "pets").as_posix())
    from_zip, _ = prepare("folder", archive, tmp_path / "z", labels=True, size=16)
    assert np.array_equal(np.load(from_zip / "train.npy"), np.load(folder / "train.npy"))


def test_an_image_with_a_corrupt_exif_block_is_skipped_not_a_crash(tmp_path):
    """Pillow raises SyntaxError for an EXIF block whose TIFF header is damaged (a byte flipped in a WebP can do it):
    the whole preparation stopped with a traceback."""
    source = tmp_path / "photos"
    source.mkdir()
    for i in range(3):
        Image.new("RGB", (20, 20), (80 * i, 10, 10)).save(source / f"{i}.png")
    Image.new("RGB", (20, 20)).save(source / "3.webp", "WEBP", exif=b"MM\x00\x9b\x00\x00\x00\x08")
    folder, _ = prepare("folder", source, tmp_path / "root", size=16)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["skipped"] == 1 and manifest["splits"]["train"]["n"] == 3


def test_prepare_command_says_what_it_did_in_one_line(files, tmp_path, caplog):
    """It said each outcome twice: an info log line on stderr and the result on stdout."""
    command = ("data", "prepare", "folder", "--from", str(files / "pets"), "--root", str(tmp_path), "--size", "16")
    with caplog.at_level(logging.INFO, logger="ganscape"):
        first, again = ganscape(*command), ganscape(*command)
    folder = tmp_path / "pets" / "16px"
    assert (first.returncode, first.stdout) == (0, f"prepared: {folder}\n")
    assert (again.returncode, again.stdout) == (0, f"already prepared (same source and options): {folder}\n")
    assert [r.getMessage() for r in caplog.records if str(folder) in r.getMessage()] == []


def test_folder_zip_from_a_mac_has_no_metadata_classes_and_an_unreadable_class_is_none(files, tmp_path):
    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted((files / "pets").rglob("*.*")):
            name = path.relative_to(files / "pets").as_posix()
            z.write(path, f"pets/{name}")
            z.writestr(f"__MACOSX/pets/{Path(name).parent}/._{Path(name).name}", b"\0\5\26\7 AppleDouble")
        z.writestr("pets/owls/broken.jpg", b"not an image")
    folder, _ = prepare("folder", archive, tmp_path / "root", labels=True, size=16)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["class_names"] == ["cats", "dogs"] and manifest["skipped"] == 2  # as from the folder itself
    assert np.load(folder / "train_labels.npy").tolist() == [0] * 4 + [1] * 4


def test_lsun_read_by_another_program_is_still_prepared(files, tmp_path):
    import os

    import lmdb

    source = datafiles.lsun(tmp_path)
    assert prepare("lsun", source, tmp_path / "root", size=16)[1]
    with lmdb.open(str(source), readonly=True) as env, env.begin() as txn:  # lock=True, as LSUN's own scripts
        assert txn.get(f"{0:040x}".encode())
    os.utime(source / "lock.mdb", ns=(1, 1))  # whatever the clock's resolution, the lock file has changed
    assert not prepare("lsun", source, tmp_path / "root", size=16)[1]


def test_preparing_one_split_keeps_the_dataset_s_other_splits(files, tmp_path, caplog):
    root = tmp_path / "root"
    train, val = datafiles.lsun(tmp_path), datafiles.lsun(tmp_path, n=4, split="val")
    folder, _ = prepare("lsun", train, root, size=16)
    first_train = np.load(folder / "train.npy")
    prepare("lsun", val, root, size=16)
    assert json.loads((folder / "manifest.json").read_text())["splits"].keys() == {"train", "val"}
    for split, n in (("train", 10), ("val", 4)):
        assert len(build_dataset({"name": "lsun", "split": split, "size": 16, "root": str(root)})) == n
    assert np.array_equal(np.load(folder / "train.npy"), first_train)
    assert not prepare("lsun", train, root, size=16)[1] and not prepare("lsun", val, root, size=16)[1]

    source = files / "hf_saved"
    for split in ("train", "test"):
        prepare("hf", source, root, "mine", image_column="img", label_column="label", split=split, size=16)
    mine = root / "mine" / "16px"
    assert json.loads((mine / "manifest.json").read_text())["splits"].keys() == {"train", "test"}
    assert not prepare("hf", source, root, "mine", image_column="img", label_column="label", split="train",
                       size=16)[1]
    import datasets

    other = [Image.open(io.BytesIO(datafiles.jpeg(i, (20, 20), "PNG"))) for i in range(3)]
    owls = datasets.Dataset.from_dict({"img": other, "label": ["owl", "fox", "owl"]})
    datasets.DatasetDict({"test": owls}).save_to_disk(str(tmp_path / "other"))
    with caplog.at_level(logging.WARNING, logger="ganscape.data.prepare"):  # other classes: the old train split goes
        prepare("hf", tmp_path / "other", root, "mine", image_column="img", label_column="label", split="test",
                size=16)
    assert json.loads((mine / "manifest.json").read_text())["splits"].keys() == {"test"}
    assert not (mine / "train.npy").exists()
    assert any("dropped split 'train'" in r.getMessage() and "class_names" in r.getMessage() for r in caplog.records)
    prepare("folder", files / "pets", root, "mine", labels=True, size=16)  # a source of every split replaces them all
    assert json.loads((mine / "manifest.json").read_text())["splits"].keys() == {"train"}


def test_a_damaged_prepared_split_is_prepared_again_and_is_one_line_to_training(files, tmp_path, caplog):
    folder, _ = prepare("folder", files / "pets", tmp_path / "root", labels=True, size=16)
    labels = np.load(folder / "train_labels.npy")
    (folder / "train_labels.npy").unlink()
    with pytest.raises(ConfigError, match=r"cannot read .*train_labels.npy .*prepare the dataset again"):
        build_dataset({"name": "prepared", "dataset": "pets", "root": str(tmp_path / "root")})
    with caplog.at_level(logging.WARNING, logger="ganscape.data.prepare"):
        assert prepare("folder", files / "pets", tmp_path / "root", labels=True, size=16)[1]
    assert np.array_equal(np.load(folder / "train_labels.npy"), labels)
    assert any("train_labels.npy" in r.getMessage() and "preparing train again from this source" in r.getMessage()
               for r in caplog.records)
    images = folder / "train.npy"
    images.write_bytes(images.read_bytes()[:-100])  # truncated
    assert prepare("folder", files / "pets", tmp_path / "root", labels=True, size=16)[1]
    assert not prepare("folder", files / "pets", tmp_path / "root", labels=True, size=16)[1]


@pytest.mark.parametrize("code", ["ENOSPC", "EFBIG"])  # a full disk; a file size limit (ulimit -f), once --from's
def test_a_full_disk_is_blamed_on_the_data_root_not_the_source(files, tmp_path, monkeypatch, code):
    import errno
    import os

    from ganscape.data.prepare.store import ArrayWriter

    def full(self, rows):
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))
    monkeypatch.setattr(ArrayWriter, "append", full)
    with pytest.raises(ConfigError, match=rf"^--root: cannot write .*{os.strerror(getattr(errno, code))}"):
        prepare("folder", files / "pets", tmp_path / "root", size=16)
    assert not (tmp_path / "root").exists()


def test_a_failed_preparation_removes_only_its_own_files(files, tmp_path):
    """A preparation on a fresh --root removed the whole root when it failed: another dataset prepared there in the
    meantime went with it, and so did the lock file another preparer could hold."""
    from ganscape.data.prepare.store import PreparedWriter

    root = tmp_path / "fresh" / "root"
    with pytest.raises(RuntimeError, match="interrupted"):
        with PreparedWriter(root, "first", 16):
            prepare("folder", files / "pets", root, size=16)  # another preparer finishes meanwhile
            raise RuntimeError("interrupted")
    assert (root / "pets" / "16px" / "manifest.json").exists()
    assert not (root / "first").exists()


def test_a_preparation_already_running_is_named_as_such(files, tmp_path):
    from ganscape.utils.io import folder_lock

    with folder_lock(tmp_path / "root" / "pets"):  # as a second process preparing the same dataset holds it
        with pytest.raises(ConfigError, match="another process is preparing this dataset right now.*--name or --root"):
            prepare("folder", files / "pets", tmp_path / "root", size=16)


def test_an_array_is_streamed_into_its_npy_file_in_place(tmp_path):
    from ganscape.data.prepare.store import ArrayWriter

    rows = np.random.default_rng(0).integers(0, 256, (1001, 5, 7, 3), dtype=np.uint8)
    writer = ArrayWriter(tmp_path / "train.npy", (5, 7, 3))
    for start in range(0, len(rows), 256):
        writer.append(rows[start:start + 256])
    assert [p.name for p in tmp_path.iterdir()] == ["train.npy"]  # no second copy: half the disk space
    assert writer.close() == 1001
    assert np.array_equal(np.load(tmp_path / "train.npy"), rows)
    assert np.array_equal(np.load(tmp_path / "train.npy", mmap_mode="r")[-3:], rows[-3:])
    with open(tmp_path / "train.npy", "rb") as fh:
        assert np.lib.format.read_magic(fh) == (1, 0)
        np.lib.format.read_array_header_1_0(fh)
        assert fh.tell() % 64 == 0  # the data starts aligned, as NumPy writes it


def test_sixteen_bit_greyscale_keeps_its_grey_levels():
    from ganscape.data.images import decode

    levels = np.array([[0, 128 * 257, 255 * 257, 40000]], np.uint16).repeat(4, axis=0)
    for fmt in ("PNG", "TIFF"):
        encoded = io.BytesIO()
        Image.fromarray(levels).save(encoded, fmt)
        assert np.array_equal(decode(encoded.getvalue(), 4, 1)[0, :, 0], [0, 128, 255, 156]), fmt
    assert np.array_equal(decode(encoded.getvalue(), 4, 3)[0, 1], [128, 128, 128])


def test_hf_integer_labels_are_numbered_by_value(tmp_path):
    import datasets

    images = [Image.open(io.BytesIO(datafiles.jpeg(i, (20, 20), "PNG"))) for i in range(4)]
    datasets.Dataset.from_dict({"image": images, "digit": [2, 10, 0, 1]},
                               features=datasets.Features({"image": datasets.Image(),
                                                           "digit": datasets.Value("int64")})).save_to_disk(
        str(tmp_path / "digits"))
    folder, _ = prepare("hf", tmp_path / "digits", tmp_path / "root", label_column="digit", size=16)
    assert json.loads((folder / "manifest.json").read_text())["class_names"] == ["0", "1", "2", "10"]
    assert np.load(folder / "train_labels.npy").tolist() == [2, 3, 0, 1]


def test_hf_saved_dataset_keeps_splits_and_class_labels(files, root):
    ds = build_dataset({"name": "prepared", "dataset": "tiny_hf", "root": str(root), "split": "test"})
    assert len(ds) == 8 and ds.num_classes == 3 and ds.info["class_names"] == "a,b,c"
    assert ds.y.tolist() == [i % 3 for i in range(8)]
    expected = Image.open(io.BytesIO(datafiles.jpeg(100, (36, 36), "PNG"))).resize((32, 32), Image.BICUBIC)
    x, _ = ds.get(torch.tensor([0]))
    assert np.array_equal(((x[0].permute(1, 2, 0) + 1) * 127.5).round().to(torch.uint8).numpy(), np.asarray(expected))


# ----- training on prepared data ---------------------------------------------------------------------------------
CONDITIONAL_SNDCGAN = ({"name": "sndcgan", "ch": 4, "conditional": True},
                       {"name": "sndcgan", "ch": 4, "conditioning": "projection"})
CASES = {
    "cifar10-projection": ({"name": "cifar10"}, *CONDITIONAL_SNDCGAN),
    "celeba-attributes-projection": ({"name": "celeba", "size": 32, "condition": "attributes"}, *CONDITIONAL_SNDCGAN),
    "celeba-attributes-acgan": ({"name": "celeba", "size": 32, "condition": "attributes"},
                                {"name": "cdcgan", "ngf": 4}, {"name": "cdcgan", "ndf": 4, "conditioning": "acgan"}),
    "celeba-unconditional": ({"name": "celeba", "size": 32}, {"name": "dcgan", "ngf": 4}, {"name": "dcgan", "ndf": 4}),
    "lsun": ({"name": "lsun", "category": "bedroom", "size": 32}, {"name": "sndcgan", "ch": 4},
             {"name": "sndcgan", "ch": 4}),
    "folder-labels": ({"name": "prepared", "dataset": "pets"}, *CONDITIONAL_SNDCGAN),
    "hf": ({"name": "prepared", "dataset": "tiny_hf"}, {"name": "sndcgan", "ch": 4}, {"name": "sndcgan", "ch": 4}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_training_reads_prepared_data(root, case):
    data, generator, discriminator = CASES[case]
    config = {"seed": 0, "device": "cpu", "data": {**data, "root": str(root)}, "prior": {"name": "gaussian", "dim": 8},
              "generator": generator, "discriminator": discriminator, "train": TRAIN}
    trainer = Trainer(config)
    before = [p.detach().clone() for p in trainer.parts.G.parameters()]
    history = trainer.fit().history
    assert all(np.isfinite(v) for row in history for k, v in row.items() if k != "step")
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.parts.G.parameters()))


def test_attribute_runs_sample_the_attributes_asked_for(root, tmp_path):
    config = {"seed": 0, "device": "cpu", "data": {"name": "celeba", "size": 32, "condition": "attributes",
                                                   "root": str(root)},
              "prior": {"name": "gaussian", "dim": 8}, "generator": {"name": "cdcgan", "ngf": 4},
              "discriminator": {"name": "cdcgan", "ndf": 4, "conditioning": "acgan"},
              "train": {**TRAIN, "checkpoint_every": 2}}
    run = tmp_path / "run"
    assert ganscape("train", dump_config(config, tmp_path), "--no-progress", "--out", str(run)).returncode == 0
    sampler = load_sampler(run, ema=False)
    names = sampler.attribute_names
    rows = sampler.labels(6, {"Blond_Hair": 1, "Smiling": 0})
    assert rows.shape == (6, 40) and rows[:, names.index("Blond_Hair")].eq(1).all()
    assert rows[:, names.index("Smiling")].eq(0).all()
    blond = sampler.sample(4, seed=1, labels={"Blond_Hair": 1})
    dark = sampler.sample(4, seed=1, labels={"Blond_Hair": 0})
    assert not torch.equal(blond, dark)  # same latents, the attribute changes the images
    done = ganscape("sample", str(run), "--attr", "Blond_Hair=1,Smiling=1", "--n", "5", "--out",
                    str(tmp_path / "faces.npz"))
    assert done.returncode == 0, done.stderr
    assert np.load(tmp_path / "faces.npz")["arr_0"].shape == (5, 32, 32, 3)
    bad = ganscape("sample", str(run), "--attr", "Blond=1", "--out", str(tmp_path / "x.npz"))
    assert bad.returncode == 2 and "unknown attribute 'Blond'" in bad.stderr and "Blond_Hair" in bad.stderr
    assert not (tmp_path / "x.npz").exists()
    from ganscape.analysis.interpolation import interpolation_grid

    grid = interpolation_grid(sampler, rows=2, steps=3)  # one real attribute vector per row (a traceback before)
    assert grid.shape == (6, 3, 32, 32) and torch.isfinite(grid).all()
    blond_rows = interpolation_grid(sampler, rows=2, steps=3, label={"Blond_Hair": 1})
    assert not torch.equal(blond_rows, interpolation_grid(sampler, rows=2, steps=3, label={"Blond_Hair": 0}))
    done = ganscape("interpolate", str(run), "--attr", "Blond_Hair=1", "--rows", "2", "--steps", "3", "--out",
                    str(tmp_path / "blond.png"))  # interpolate had no --attr
    assert done.returncode == 0 and (tmp_path / "blond.png").exists(), done.stderr


def dump_config(config: dict, folder: Path) -> str:
    path = folder / "config.yaml"
    path.write_text(dump_yaml(config))
    return str(path)


@pytest.fixture(scope="module")
def cifar_run(root, tmp_path_factory) -> Path:
    """A tiny SNDCGAN run trained on the prepared CIFAR-format data (the sample tests only read it)."""
    folder = tmp_path_factory.mktemp("cifar_run")
    config = {"seed": 0, "device": "cpu", "data": {"name": "cifar10", "root": str(root)},
              "prior": {"name": "gaussian", "dim": 8}, "generator": {"name": "sndcgan", "ch": 4},
              "discriminator": {"name": "sndcgan", "ch": 4}, "train": {**TRAIN, "checkpoint_every": 2}}
    run = folder / "run"
    assert ganscape("train", dump_config(config, folder), "--no-progress", "--out", str(run)).returncode == 0
    return run


def test_samples_npz_and_png_folder_hold_the_same_images(cifar_run, tmp_path):
    run = cifar_run
    assert ganscape("sample", str(run), "--n", "10", "--batch", "3", "--out", str(tmp_path / "s.npz")).returncode == 0
    assert ganscape("sample", str(run), "--n", "10", "--batch", "4", "--out", str(tmp_path / "pngs") + "/").returncode == 0
    with np.load(tmp_path / "s.npz", allow_pickle=False) as arrays:
        assert arrays.files == ["arr_0"]
        samples = arrays["arr_0"]
    assert samples.dtype == np.uint8 and samples.shape == (10, 32, 32, 3)
    pngs = sorted((tmp_path / "pngs").iterdir())
    assert [p.name for p in pngs] == [f"{i:06d}.png" for i in range(10)]
    assert np.array_equal(np.stack([np.asarray(Image.open(p)) for p in pngs]), samples)
    direct = load_sampler(run).sample(10, seed=0)
    assert np.array_equal(((direct.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy(),
                          samples)


# ----- a study on CIFAR-format data, and the Inception weights ---------------------------------------------------
def test_small_study_end_to_end_on_prepared_cifar_format_digits(tmp_path):
    archive = datafiles.cifar10_binary(tmp_path / "digits-cifar.tar.gz", batches=datafiles.digit_batches(200, 100))
    root = tmp_path / "root"
    assert ganscape("data", "prepare", "cifar10", "--from", str(archive), "--root", str(root)).returncode == 0
    study = {"name": "cifar-digits",
             "base": {"data": {"name": "cifar10", "root": str(root)}, "prior": {"name": "gaussian", "dim": 16},
                      "generator": {"name": "sndcgan", "ch": 8}, "discriminator": {"name": "sndcgan", "ch": 8},
                      "train": {"steps": 20, "batch_size": 16, "log_every": 10, "checkpoint_every": 20,
                                "sample_every": 0}},
             "grid": {"loss.name": ["nonsaturating", "hinge"]},
             "eval": {"metrics": ["fid", "kid"], "n": 100, "reference_n": 500, "extractor": "lenet",
                      "classifier": {"name": "digits"}},
             "report": {"metrics": ["fid"]}}
    (tmp_path / "study.yaml").write_text(dump_yaml(study))
    out = tmp_path / "study"
    assert ganscape("study", "plan", str(tmp_path / "study.yaml"), "--out", str(out)).returncode == 0
    done = ganscape("study", "run", str(out), "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ganscape("study", "report", str(out), "--out", str(tmp_path / "report.csv")).returncode == 0
    from ganscape.studies.store import Store

    with Store(out) as store:
        rows = store.conn.execute("SELECT metric, value FROM results").fetchall()
    metrics = {r["metric"] for r in rows}
    assert {"fid100_lenet-digits_ref500", "kid100_lenet-digits_ref500"} <= metrics  # 500 reference samples, not 100
    assert len(rows) == 4 and all(np.isfinite(r["value"]) for r in rows)
    assert "fid100_lenet-digits_ref500" in (tmp_path / "report.csv").read_text()


def fake_inception_weights(path: Path) -> Path:
    """A weights file in the real format (a plain state dict saved by torch.save, pytorch-fid's key names and
    shapes) holding random values."""
    from ganscape.features.inception import FIDInceptionV3

    torch.manual_seed(0)
    state = FIDInceptionV3(fc=True).state_dict()
    assert tuple(state["Conv2d_1a_3x3.conv.weight"].shape) == (32, 3, 3, 3)
    assert tuple(state["Mixed_7c.branch_pool.conv.weight"].shape) == (192, 2048, 1, 1)
    assert tuple(state["fc.weight"].shape) == (1008, 2048)
    torch.save({k: torch.randn_like(v) if v.is_floating_point() and "running_var" not in k else v
                for k, v in state.items()}, path)
    return path


def test_inception_weights_in_the_real_format_load_and_a_wrong_hash_is_refused(root, tmp_path):
    from ganscape.features.inception import load_fid_inception
    from ganscape.utils.io import file_digest

    weights = fake_inception_weights(tmp_path / "pt_inception-random.pth")
    net = load_fid_inception(weights)
    assert net.features(torch.rand(2, 3, 32, 32) * 2 - 1).shape == (2, 2048)
    study = {"name": "needs-inception", "base": {"data": {"name": "cifar10", "root": str(root)},
                                                 "generator": {"name": "sndcgan", "ch": 4},
                                                 "discriminator": {"name": "sndcgan", "ch": 4},
                                                 "prior": {"name": "gaussian", "dim": 8}, "train": TRAIN},
             "eval": {"metrics": ["fid"], "n": 10, "inception_weights": str(weights)}}
    (tmp_path / "s.yaml").write_text(dump_yaml(study))
    done = ganscape("study", "plan", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "st"))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "not the standard FID Inception weights" in done.stderr and "6726825d" in done.stderr
    assert not (tmp_path / "st").exists()
    study["eval"]["inception_sha256"] = file_digest(weights)[:16]  # accepted on purpose
    (tmp_path / "s.yaml").write_text(dump_yaml(study))
    assert ganscape("study", "plan", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "st")).returncode == 0


# ----- bad input -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad(files, tmp_path_factory) -> Path:
    """Broken downloads of every kind."""
    folder = tmp_path_factory.mktemp("bad")
    data = (files / "cifar-10-binary.tar.gz").read_bytes()
    (folder / "truncated.tar.gz").write_bytes(data[: len(data) // 2])
    (folder / "empty").mkdir()
    with zipfile.ZipFile(folder / "no-images.zip", "w") as z:
        z.writestr("readme.txt", "no pictures here")
    (folder / "not-a-zip.zip").write_text("plain text")
    (folder / "notes_train_lmdb").mkdir()
    (folder / "celeba").mkdir()
    (folder / "celeba" / "img_align_celeba.zip").write_bytes((files / "celeba" / "img_align_celeba.zip").read_bytes())
    (folder / "celeba" / "list_attr_celeba.txt").write_text("12\nSmiling Young\n000001.jpg 1 2\n")
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:  # right layout, a batch that is a list
        datafiles.add_file(tar, "cifar-10-batches-py/batches.meta", pickle.dumps({"label_names": ["a"]}, protocol=2))
        datafiles.add_file(tar, "cifar-10-batches-py/data_batch_1", pickle.dumps([1, 2, 3], protocol=2))
    return folder


BAD = [
    (["data", "prepare", "cifar10", "--from", "{bad}/truncated.tar.gz"], "is truncated or not a tar archive"),
    (["data", "prepare", "cifar10", "--from", "{files}/cifar-100-python.tar.gz"],
     "is not a cifar10 archive (cifar-10-python.tar.gz or cifar-10-binary.tar.gz)"),
    (["data", "prepare", "cifar100", "--from", "{files}/cifar-10-binary.tar.gz"], "is not a cifar100 archive"),
    (["data", "prepare", "cifar10", "--from", "{bad}/cifar-10-python.tar.gz"], "holds a list, not a CIFAR batch"),
    (["data", "prepare", "cifar10", "--from", "{bad}/empty"], "expected an archive file, got a folder"),
    (["data", "prepare", "folder", "--from", "{bad}/empty"], "no images"),
    (["data", "prepare", "folder", "--from", "{bad}/no-images.zip"], "no images"),
    (["data", "prepare", "folder", "--from", "{bad}/not-a-zip.zip"], "neither a folder nor a readable zip"),
    (["data", "prepare", "folder", "--from", "{files}/pets", "--size", "0"], "--size: must be >= 1"),
    (["data", "prepare", "folder", "--from", "{files}/pets", "--crop", "5000"], "--crop: 5000 is larger than an image"),
    (["data", "prepare", "celeba", "--from", "{files}/celeba/img_align_celeba.zip", "--crop", "500"],
     "--crop: 500 is larger than an image of 178 x 218; give --crop 178 or less"),
    (["data", "prepare", "folder", "--from", "{files}/pets", "--channels", "2"], "--channels: expected one of 1, 3"),
    (["data", "prepare", "folder", "--from", "{files}/pets", "--name", "../up"], "--name: '../up' cannot be"),
    (["data", "prepare", "cifar10", "--from", "{files}/cifar-10-binary.tar.gz", "--labels"],
     "--labels: not an option of cifar10"),
    (["data", "prepare", "celeba", "--from", "{bad}/not-a-zip.zip"], "is not a readable zip or folder"),
    (["data", "prepare", "celeba", "--from", "{bad}/celeba/img_align_celeba.zip"], "expected a file name and 2 values"),
    (["data", "prepare", "lsun", "--from", "{bad}/notes_train_lmdb"], "not an LSUN lmdb folder (no data.mdb inside)"),
    (["data", "prepare", "cifar10", "--from", "{bad}/nowhere.tar.gz"], "--from: not found"),
    (["data", "prepare", "hf", "--from", "{files}/hf_saved", "--image-column", "picture"],
     "--image-column: {files}/hf_saved split 'train' has no column 'picture'; columns: img, label"),
    (["data", "prepare", "imagenet", "--from", "{files}/pets"], "invalid choice: 'imagenet'"),
    (["data", "prepare", "cifar10"], "the following arguments are required: --from"),
    (["train", "sndcgan-cifar10", "data.root={bad}/empty"],
     "cifar10 is not prepared under {bad}/empty; run `ganscape data prepare cifar10 --from PATH --root {bad}/empty --size 32`"),
    (["train", "sndcgan-cifar10", "data.root={root}", "data.size=64"], "data.size: cifar10 is prepared at 32 px"),
    (["train", "sndcgan-cifar10", "data.root={root}", "data.split=valid"], "data.split: expected one of 'train', 'test'"),
    (["train", "sndcgan-cifar10", "data.root={root}", "data.condition=attributes"],
     "data.condition: cifar10 split 'train' has no attributes; valid: auto, none, labels"),
    (["train", "dcgan-celeba64", "data.root={root}", "data.size=32", "eval.every=10"],
     "eval.inception_weights: evaluating colour images needs the FID Inception weights; set it to the path of "
     "pytorch-fid's pt_inception-2015-12-05-6726825d.pth (eval.inception_weights=PATH; `study plan` also takes"),
    (["study", "plan", "landscape-cifar", "--out", "{tmp}/st", "--inception-weights", "{bad}/missing.pth"],
     "inception_weights: file not found: {bad}/missing.pth"),
    (["study", "plan", "landscape-cifar", "--out", "{tmp}/st"],
     "cifar10 is not prepared under"),
]


@pytest.mark.parametrize("argv, fragment", BAD, ids=[" ".join(c[0])[:60] for c in BAD])
def test_bad_input_is_one_line_and_leaves_the_data_root_alone(files, root, bad, tmp_path, monkeypatch, argv, fragment):
    monkeypatch.setenv("GANSCAPE_DATA", str(tmp_path / "data_root"))
    values = {"files": files, "bad": bad, "root": root, "tmp": tmp_path}
    args = [a.format(**values) for a in argv]
    if args[0] == "train":
        args += ["--out", str(tmp_path / "run")]
    before = {folder: snapshot(folder) for folder in (files, bad, root)}
    done = ganscape(*args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert len(lines) == 1, done.stderr
    assert fragment.format(**values) in done.stderr, (fragment, done.stderr)
    assert {folder: snapshot(folder) for folder in (files, bad, root)} == before
    assert not (tmp_path / "data_root").exists() or not any((tmp_path / "data_root").rglob("*.npy"))
    assert not (tmp_path / "run").exists() and not (tmp_path / "st").exists()


@pytest.mark.parametrize("module, preparer, source", [("lmdb", "lsun", "bedroom_train_lmdb"), ("datasets", "hf", "hf_saved")])
def test_a_missing_extra_names_the_extra_to_install(files, tmp_path, monkeypatch, module, preparer, source):
    monkeypatch.setitem(__import__("sys").modules, module, None)  # import fails as if not installed
    done = ganscape("data", "prepare", preparer, "--from", str(files / source), "--root", str(tmp_path))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert f"pip install 'ganscape[{'lsun' if module == 'lmdb' else 'hf'}]'" in done.stderr
    assert not any(tmp_path.rglob("*.npy")) and not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


# ----- the shipped presets and studies ---------------------------------------------------------------------------
PRESET_WIDTHS = {"sndcgan-cifar10": ["generator.ch=4", "discriminator.ch=4"],
                 "resnet-cifar10": ["generator.ch=8", "discriminator.ch=8", "scheme.n_critic=1"],
                 "dcgan-celeba64": ["generator.ngf=4", "discriminator.ndf=4", "data.size=32"],
                 "resnet-celeba128": ["generator.ch=2", "discriminator.ch=2", "data.size=32"]}


@pytest.mark.parametrize("preset", list(PRESET_WIDTHS))
def test_real_data_presets_train_on_prepared_data(root, preset):
    overrides = [f"data.root={root}", "train.steps=1", "train.batch_size=4", "train.log_every=1", "device=cpu",
                 *PRESET_WIDTHS[preset]]
    history = Trainer(preset, overrides).fit().history
    assert history and all(np.isfinite(row["loss_d"]) for row in history)


def test_landscape_studies_need_prepared_data_and_the_standard_weights(root, tmp_path, monkeypatch):
    from ganscape.studies import read_study
    from ganscape.studies.plan import plan_tasks

    assert len(plan_tasks(read_study("landscape-cifar"))) == 2 * 3 * 3 * 4
    assert {t.config["data"]["name"] for t in plan_tasks(read_study("landscape-celeba"))} == {"celeba"}
    monkeypatch.setenv("GANSCAPE_DATA", str(root))
    done = ganscape("study", "plan", "landscape-cifar", "--out", str(tmp_path / "st"))
    assert done.returncode == 2 and "needs the FID Inception weights" in done.stderr
    weights = fake_inception_weights(tmp_path / "random.pth")
    done = ganscape("study", "plan", "landscape-cifar", "--inception-weights", str(weights), "--out",
                    str(tmp_path / "st"))
    assert done.returncode == 2 and "not the standard FID Inception weights" in done.stderr
    assert not (tmp_path / "st").exists()


# ----- found in review ----------------------------------------------------------------------------------------------
class HugeArray:
    """A pickle that asks numpy.ndarray itself for a 3 TB array over a few bytes (zero strides)."""

    def __reduce__(self):
        return np.ndarray, ((10**9, 3072), "u1", b"\0" * 8, 0, (0, 1))


def test_a_pickle_cannot_call_ndarray_or_other_codecs(tmp_path):
    huge = pickle.dumps({b"data": HugeArray(), b"labels": []}, protocol=2)
    archive = datafiles.cifar10_python(tmp_path / "c.tar.gz", replace={"data_batch_1": huge})
    done = ganscape("data", "prepare", "cifar10", "--from", str(archive), "--root", str(tmp_path / "root"))
    assert done.returncode == 2 and "not a readable CIFAR batch" in done.stderr
    assert not list((tmp_path / "root").rglob("*.npy"))


class UninitialisedArray:
    """A pickle that asks ``_reconstruct`` (the global NumPy's own array pickles use) for a (1000, 3072) array and
    never sets its data: 3 MB of uninitialised memory from a few hundred bytes."""

    def __reduce__(self):
        from ganscape.data.prepare.unpickle import _reconstruct

        return _reconstruct, (np.ndarray, (1000, 3072), b"b")


def test_a_pickle_cannot_make_an_array_larger_than_its_bytes(tmp_path):
    from ganscape.data.prepare.unpickle import safe_load

    real = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(safe_load(pickle.dumps({"a": real, "b": real[:, ::2]}, protocol=2))["b"], real[:, ::2])
    bomb = pickle.dumps({b"data": UninitialisedArray(), b"labels": [0] * 1000}, protocol=2)
    assert len(bomb) < 4000
    archive = datafiles.cifar10_python(tmp_path / "c.tar.gz", replace={"data_batch_1": bomb})
    done = ganscape("data", "prepare", "cifar10", "--from", str(archive), "--root", str(tmp_path / "root"))
    assert done.returncode == 2 and "shape (1000, 3072)" in done.stderr and "Traceback" not in done.stderr
    assert not list((tmp_path / "root").rglob("*.npy"))


class ForgedDtype:
    """A dtype whose state declares an object field over 8 raw bytes while its flags say it holds no objects: NumPy
    took the file's bytes as an object pointer and crashed (segmentation fault) reading it."""

    def __reduce__(self):
        return np.dtype, ("V8",), (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0)


class ForgedState:
    """A plain dtype name with a state that declares fields: the state alone is checked too."""

    def __reduce__(self):
        return np.dtype, ("u1", False, True), (3, "|", None, ("a",), {"a": (np.dtype("u1"), 0)}, 8, 1, 0)


class OverBytes:
    def __init__(self, dtype):
        self.dtype = dtype

    def __reduce__(self):
        from ganscape.data.prepare.unpickle import _reconstruct

        return _reconstruct, (np.ndarray, (0,), b"b"), (1, (1,), self.dtype, False, b"\x41" * 8)


class ClassState:
    """``numpy.ndarray`` called, then BUILD on what it made: an instance of the stand-in class, whose state went into
    its attributes (on the class itself, they stayed for the rest of the process)."""

    def __reduce__(self):
        return np.ndarray, (), {"pwn": 1}


@pytest.mark.parametrize("forged,message", [(ForgedDtype(), "numpy.dtype('V8'): only plain numeric types"),
                                            (ForgedState(), "is not a plain numeric type's"),
                                            (ClassState(), "numpy.ndarray(...) called directly")])
def test_a_pickle_cannot_forge_a_dtype_or_set_a_class_state(tmp_path, forged, message):
    from ganscape.data.prepare.unpickle import ArrayType, safe_load

    bad = pickle.dumps({b"data": OverBytes(forged) if "Forged" in type(forged).__name__ else forged,
                        b"labels": [0]}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=re.escape(message)):
        safe_load(bad)
    class_state = b"\x80\x02cnumpy\nndarray\n}X\x03\x00\x00\x00pwnK\x01sb."  # BUILD on the class itself
    with pytest.raises(pickle.UnpicklingError, match="setting the state of type"):
        safe_load(class_state)
    assert not hasattr(ArrayType, "pwn")
    archive = datafiles.cifar10_python(tmp_path / "c.tar.gz", replace={"data_batch_1": bad})
    done = ganscape("data", "prepare", "cifar10", "--from", str(archive), "--root", str(tmp_path / "root"))
    assert done.returncode == 2 and "not a readable CIFAR batch" in done.stderr and "Traceback" not in done.stderr
    assert not list((tmp_path / "root").rglob("*.npy"))


def test_a_truncated_lsun_database_is_refused_in_one_line(tmp_path):
    """Half a data.mdb (an interrupted unzip): lmdb maps the size its header records and the read past the file's end
    killed the process (SIGBUS, no message); run in a child process so that such a crash fails only this test."""
    import subprocess
    import sys

    source = datafiles.lsun(tmp_path)
    data = (source / "data.mdb").read_bytes()
    (source / "data.mdb").write_bytes(data[:len(data) // 2])
    done = subprocess.run([sys.executable, "-m", "ganscape", "data", "prepare", "lsun", "--from", str(source),
                           "--root", str(tmp_path / "root")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done
    assert f"{source / 'data.mdb'} is truncated: {len(data) // 2} bytes, where its header counts" in done.stderr
    assert "Traceback" not in done.stderr and not list((tmp_path / "root").rglob("*.npy"))


def test_a_damaged_lsun_page_is_refused_in_one_line(tmp_path):
    """Pages of the wrong type (flags flipped on every page after the two meta pages): lmdb's CorruptedError came out
    of the cursor as a traceback; only opening the database was guarded."""
    source = datafiles.lsun(tmp_path)
    data = bytearray((source / "data.mdb").read_bytes())
    for page in range(2, len(data) // 4096):
        data[page * 4096 + 10] ^= 0xFF  # the page header's flags (after its 8-byte number and 2 bytes of padding)
    (source / "data.mdb").write_bytes(bytes(data))
    done = ganscape("data", "prepare", "lsun", "--from", str(source), "--root", str(tmp_path / "root"))
    assert done.returncode == 2 and f"--from: {source / 'data.mdb'} is damaged (" in done.stderr
    assert "Traceback" not in done.stderr and not list((tmp_path / "root").rglob("*.npy"))


def test_an_lsun_folder_named_otherwise_is_prepared_with_a_warning(tmp_path, caplog):
    """``bedroom_val`` (renamed) was prepared as the train split of lsun_bedroom_val without a word."""
    source = datafiles.lsun(tmp_path, n=3).rename(tmp_path / "bedroom_val")
    with caplog.at_level(logging.WARNING, logger="ganscape.data.prepare"):
        folder, _ = prepare("lsun", source, tmp_path / "root", size=16)
    assert "folder name 'bedroom_val' is not CATEGORY_train_lmdb or CATEGORY_val_lmdb" in caplog.text
    assert (folder / "train.npy").is_file() and folder.parent.name == "lsun_bedroom_val"


def test_celeba_images_the_partition_lists_but_the_source_lacks_are_warned_of(files, tmp_path, caplog):
    """A partly extracted folder (8 of the 12 listed images gone) prepared a train split of 4 without a word."""
    source = celeba_folder(files, tmp_path) / "img_align_celeba"
    for path in sorted(source.iterdir())[4:]:
        path.unlink()
    with caplog.at_level(logging.WARNING, logger="ganscape.data.prepare"):
        prepare("celeba", source, tmp_path / "root", size=16)
    assert (f"warning: 8 of the 12 image(s) list_eval_partition.txt lists are not in {source}; their splits are that "
            "much smaller (first: 000005.jpg)") in caplog.text


def test_celeba_two_images_of_one_name_are_refused(files, tmp_path):
    """``CelebA/Img/`` holding the aligned and the in-the-wild folders (the same 000001.jpg names): the in-the-wild
    photos could be prepared without a word, by the file system's listing order."""
    img = celeba_folder(files, tmp_path)
    shutil.copytree(img / "img_align_celeba", img / "img_celeba")
    done = ganscape("data", "prepare", "celeba", "--from", str(img), "--root", str(tmp_path / "root"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (f"holds two images named 000001.jpg ({img / 'img_align_celeba' / '000001.jpg'} and "
            f"{img / 'img_celeba' / '000001.jpg'})") in done.stderr
    assert not (tmp_path / "root").exists()


def test_celeba_annotations_that_are_not_text_are_refused_in_one_line(files, tmp_path):
    folder = celeba_folder(files, tmp_path)
    text = (folder / "list_attr_celeba.txt").read_bytes()
    (folder / "list_attr_celeba.txt").write_bytes(text[:100] + b"\xe9" + text[100:])
    done = ganscape("data", "prepare", "celeba", "--from", str(folder / "img_align_celeba"), "--root",
                    str(tmp_path / "root"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"--from: {folder / 'list_attr_celeba.txt'} is not a text file as the download's (byte 100 is" in done.stderr


def test_an_image_over_the_decompression_bomb_limit_is_skipped_in_one_line(tmp_path, monkeypatch, caplog):
    """Pillow refuses an image of more than twice ``MAX_IMAGE_PIXELS`` (179 megapixels; a 140 KB PNG can decode to
    gigabytes): it is skipped and counted with the unreadable ones, no traceback."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    source = datafiles.image_folder(tmp_path / "pets", per_class=2, corrupt=False)  # 40 x 30: 1200 pixels each
    Image.new("RGB", (20, 20)).save(source / "cats" / "small.png")
    with caplog.at_level(logging.WARNING):
        done = ganscape("data", "prepare", "folder", "--from", str(source), "--root", str(tmp_path / "root"))
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert [r.getMessage() for r in caplog.records] == [f"warning: skipped 4 unreadable image(s) of 5 in {source}"]
    assert np.load(tmp_path / "root" / "pets" / "64px" / "train.npy").shape[0] == 1


def test_an_image_under_twice_the_decompression_bomb_limit_is_used(tmp_path, monkeypatch, caplog):
    """Pillow only warns between once and twice its limit (a 100-megapixel camera's photos): such images are kept."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    source = datafiles.image_folder(tmp_path / "pets", per_class=2, corrupt=False)  # 40 x 30: 1200 pixels each
    with caplog.at_level(logging.WARNING), pytest.warns(Image.DecompressionBombWarning):
        prepare("folder", source, tmp_path / "root")
    assert np.load(tmp_path / "root" / "pets" / "64px" / "train.npy").shape[0] == 4 and not caplog.records


def test_a_cifar_archive_of_large_members_is_refused_before_it_fills_memory(tmp_path, monkeypatch):
    """12 members of 256 MB of zeros, 3 MB compressed, were all read (3.4 GB) before the archive's structure was
    looked at; now one layout's files are read, at most MAX_ARCHIVE_BYTES of them (here 1 MB, members of 600 KB)."""
    from ganscape.data.prepare import cifar

    monkeypatch.setattr(cifar, "MAX_ARCHIVE_BYTES", 1 << 20)
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("data_batch_1", "data_batch_2", "data_batch_3"):
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = 600_000
            tar.addfile(info, io.BytesIO(bytes(info.size)))
    done = ganscape("data", "prepare", "cifar10", "--from", str(archive), "--root", str(tmp_path / "root"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"--from: {archive} holds more than 1 MB of cifar-10-batches-py files" in done.stderr


def test_an_archive_holding_both_cifar_layouts_reads_one(files, tmp_path):
    """Only the files of the first layout met are read, and that layout is the one prepared."""
    from ganscape.data.prepare.cifar import layout_files, read_members

    both = tmp_path / "both.tar.gz"
    with tarfile.open(both, "w:gz") as out:
        for source in (files / "cifar-10-python.tar.gz", files / "cifar-10-binary.tar.gz"):
            with tarfile.open(source) as tar:
                for member in tar:
                    out.addfile(member, tar.extractfile(member) if member.isfile() else None)
    members, names = read_members(both, layout_files("cifar10"))
    assert {name.split("/")[0] for name in members} == {"cifar-10-batches-py"}
    assert any(name.startswith("cifar-10-batches-bin/") for name in names)
    folder, _ = prepare("cifar10", both, tmp_path / "root")
    assert np.array_equal(np.load(folder / "train.npy"), np.load(prepare("cifar10", files / "cifar-10-python.tar.gz",
                                                                         tmp_path / "root2")[0] / "train.npy"))


def test_a_pickle_cannot_ask_for_a_bytearray_larger_than_its_bytes():
    """Protocol 5's BYTEARRAY8 allocated the length its 8-byte field names before reading: 12 bytes took 4.4 GB."""
    from ganscape.data.prepare.unpickle import safe_load

    with pytest.raises(pickle.UnpicklingError, match="protocol 5's byte arrays"):
        safe_load(b"\x80\x05\x96" + struct.pack("<Q", 1 << 62) + b".")


def test_every_corrupt_pickle_is_one_unpickling_error():
    """Cut or flipped bytes of a CIFAR-like pickle: the pure-Python unpickler raised KeyError (an unknown opcode),
    struct.error (a cut length field) or an empty EOFError, which came out as tracebacks or ``()``."""
    from ganscape.data.prepare.unpickle import safe_load

    good = pickle.dumps({b"data": np.arange(64, dtype=np.uint8).reshape(4, 16), b"labels": [0, 1, 2, 3]}, protocol=2)
    rng = np.random.default_rng(0)
    bad = [good[:cut] for cut in range(len(good) - 1)]
    for _ in range(500):
        flipped = bytearray(good)
        flipped[rng.integers(len(good))] = rng.integers(256)
        bad.append(bytes(flipped))
    kinds = set()
    for data in bad:
        try:
            safe_load(data)
        except pickle.UnpicklingError as err:
            assert str(err), data
            kinds.add(str(err).split(" (")[0])
    assert {"truncated: it ends before its STOP opcode", "corrupt pickle"} <= kinds


def test_hf_string_labels_are_numbered_the_same_in_every_split(tmp_path):
    import datasets

    def split(names):
        images = [Image.open(io.BytesIO(datafiles.jpeg(i, (20, 20), "PNG"))) for i in range(len(names))]
        return datasets.Dataset.from_dict({"image": images, "animal": names},
                                          features=datasets.Features({"image": datasets.Image(),
                                                                      "animal": datasets.Value("string")}))
    datasets.DatasetDict({"train": split(["cat", "dog", "fox"]), "test": split(["fox", "cat"])}).save_to_disk(
        str(tmp_path / "animals"))
    folder, _ = prepare("hf", tmp_path / "animals", tmp_path / "root", label_column="animal", size=16)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["class_names"] == ["cat", "dog", "fox"]
    assert np.load(folder / "train_labels.npy").tolist() == [0, 1, 2]
    assert np.load(folder / "test_labels.npy").tolist() == [2, 0]


def test_celeba_whose_partition_names_match_no_image_is_refused(files, tmp_path):
    (tmp_path / "celeba").mkdir()
    (tmp_path / "celeba" / "img_align_celeba.zip").write_bytes((files / "celeba" / "img_align_celeba.zip").read_bytes())
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text("000001.png 0\n000002.png 1\n")
    with pytest.raises(ConfigError, match="no usable image"):
        prepare("celeba", tmp_path / "celeba" / "img_align_celeba.zip", tmp_path / "root")
    assert not list((tmp_path / "root").rglob("*.npy")) and not list((tmp_path / "root").rglob("manifest.json"))


def test_prepared_folders_follow_the_umask_and_stale_temporaries_are_removed(files, tmp_path):
    import os

    stale = tmp_path / "root" / "cifar10" / ".32px.killed.tmp"
    stale.mkdir(parents=True)
    old = os.umask(0o022)
    try:
        folder, _ = prepare("cifar10", files / "cifar-10-binary.tar.gz", tmp_path / "root")
    finally:
        os.umask(old)
    assert folder.stat().st_mode & 0o777 == 0o755 and (folder / "train.npy").stat().st_mode & 0o777 == 0o644
    assert not stale.exists()


def test_sample_out_with_a_trailing_slash_is_a_folder_whatever_its_name(cifar_run, tmp_path):
    run = cifar_run
    assert ganscape("sample", str(run), "--n", "3", "--out", str(tmp_path / "odd.npz") + "/").returncode == 0
    assert sorted(p.name for p in (tmp_path / "odd.npz").iterdir()) == ["000000.png", "000001.png", "000002.png"]


def test_labels_that_share_one_list_many_times_are_refused_before_any_array_is_made(tmp_path):
    """Nested lists that reuse one object (the pickle memo) are a few bytes in the file; np.asarray made them an
    array of 2**29 labels (4 GB) before any check, and the run ended out of memory after 30 s."""
    labels = [0, 0]
    for _ in range(28):
        labels = [labels, labels]
    bomb = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": labels}, protocol=2)
    assert len(bomb) < 10_000  # the zeros' 6 KB and the labels' few hundred bytes
    archive = datafiles.cifar10_python(tmp_path / "c.tar.gz", replace={"data_batch_1": bomb})
    done = ganscape("data", "prepare", "cifar10", "--from", str(archive), "--root", str(tmp_path / "root"))
    assert done.returncode == 2 and "'labels' is not a list of 2 integer labels" in done.stderr, done.stderr
    assert not list((tmp_path / "root").rglob("*.npy"))


def test_a_resume_after_the_data_was_prepared_again_says_so(files, tmp_path, caplog):
    """A run resumed after its dataset was prepared again from another archive went on with other images, silently."""
    from ganscape.training import train

    root = tmp_path / "root"
    prepare("cifar10", files / "cifar-10-binary.tar.gz", root)
    config = {"seed": 0, "device": "cpu", "data": {"name": "cifar10", "root": str(root)},
              "prior": {"name": "gaussian", "dim": 8}, "generator": {"name": "sndcgan", "ch": 4},
              "discriminator": {"name": "sndcgan", "ch": 4}, "train": {**TRAIN, "checkpoint_every": 2}}
    train(config, tmp_path / "run", show_progress=False)
    prepare("cifar10", files / "cifar-10-python.tar.gz", root)  # the same images, another archive and manifest
    with caplog.at_level(logging.WARNING):
        train({**config, "train": {**config["train"], "steps": 4}}, tmp_path / "run", show_progress=False)
    assert "cifar10 (data) was prepared again after step 2's checkpoint" in caplog.text


def test_the_same_archive_at_another_path_is_already_prepared(files, tmp_path):
    """The request compared the source's path: a copy of the archive elsewhere was prepared again, with a new
    manifest hash that invalidated every reference-feature cache of the dataset."""
    import shutil

    root = tmp_path / "root"
    folder, wrote = prepare("cifar10", files / "cifar-10-python.tar.gz", root)
    manifest = (folder / "manifest.json").read_bytes()
    (tmp_path / "elsewhere").mkdir()
    copy = shutil.copy(files / "cifar-10-python.tar.gz", tmp_path / "elsewhere")
    assert wrote and prepare("cifar10", copy, root) == (folder, False)
    assert (folder / "manifest.json").read_bytes() == manifest
    assert prepare("cifar10", files / "cifar-10-binary.tar.gz", root) == (folder, True)  # other content: prepared


def test_a_resume_on_data_prepared_again_with_other_channels_is_one_line(files, tmp_path):
    """It was a size-mismatch traceback from loading the weights ([64, 3, 4, 4] vs [64, 1, 4, 4])."""
    from ganscape.training import train

    root = tmp_path / "root"
    prepare("folder", files / "pets", root, size=16)
    config = {"seed": 0, "device": "cpu", "data": {"name": "prepared", "dataset": "pets", "root": str(root)},
              "prior": {"name": "gaussian", "dim": 8}, "generator": {"name": "sndcgan", "ch": 4},
              "discriminator": {"name": "sndcgan", "ch": 4}, "train": {**TRAIN, "checkpoint_every": 2}}
    train(config, tmp_path / "run", show_progress=False)
    prepare("folder", files / "pets", root, size=16, channels=1)
    with pytest.raises(ConfigError, match=r"data: pets now gives samples of shape \(1, 16, 16\), but the run was "
                                          r"trained on \(3, 16, 16\) up to step 2"):
        train({**config, "train": {**config["train"], "steps": 4}}, tmp_path / "run", show_progress=False)


def test_data_list_says_when_limit_cut_a_split_short(files, tmp_path):
    """`data list` showed a split prepared with --limit as if it were the whole source."""
    for name, limit in (("cut", "3"), ("whole", "100")):
        assert ganscape("data", "prepare", "folder", "--from", str(files / "pets"), "--root", str(tmp_path),
                        "--name", name, "--size", "8", "--limit", limit).returncode == 0
    shown = ganscape("data", "list", "--root", str(tmp_path)).stdout.splitlines()
    assert [line.split()[:5] for line in shown] == [["cut", "8x8x3", "train", "3", "(--limit"],
                                                     ["whole", "8x8x3", "train", "8", str(tmp_path / "whole" / "8px")]]


def test_a_resume_after_a_class_was_added_is_one_line(tmp_path):
    """A conditional run resumed after its folder was prepared again with a third class crashed in load_state_dict
    with a size-mismatch traceback, after a warning that said the run goes on."""
    import shutil

    from ganscape.training import train

    source = datafiles.image_folder(tmp_path / "pets", corrupt=False)
    root = tmp_path / "root"
    prepare("folder", source, root, labels=True, size=16, channels=1)
    config = {"seed": 0, "device": "cpu", "data": {"name": "prepared", "dataset": "pets", "root": str(root)},
              "generator": {"name": "cdcgan", "ngf": 4}, "discriminator": {"name": "cdcgan", "ndf": 4},
              "train": {**TRAIN, "checkpoint_every": 2}}
    train(config, tmp_path / "run", show_progress=False)
    shutil.copytree(source / "cats", source / "birds")
    prepare("folder", source, root, labels=True, size=16, channels=1)
    with pytest.raises(ConfigError, match="pets now has 3 classes, but the run was trained with 2 up to step 2"):
        train({**config, "train": {**config["train"], "steps": 4}}, tmp_path / "run", show_progress=False)


def test_a_damaged_split_of_another_source_is_named_not_prepared_again_and_never_carried_over(tmp_path, caplog):
    """LSUN's val.npy deleted: preparing the train lmdb said "preparing it again", decoded train again on every
    call (hours for 3M bedrooms) and left the manifest claiming a val split with no file; a truncated train.npy
    was hard-linked, damaged, into the folder that preparing val wrote."""
    train_db, val_db = datafiles.lsun(tmp_path, split="train"), datafiles.lsun(tmp_path, n=4, split="val")
    root = tmp_path / "root"
    prepare("lsun", train_db, root, size=16)
    folder, _ = prepare("lsun", val_db, root, size=16)
    (folder / "val.npy").unlink()
    with caplog.at_level(logging.WARNING):
        assert not prepare("lsun", train_db, root, size=16)[1]  # train is intact: nothing to decode
    assert f"prepare split 'val' again from its source ({val_db})" in caplog.text
    caplog.clear()
    (folder / "train.npy").write_bytes((folder / "train.npy").read_bytes()[:-100])
    with caplog.at_level(logging.WARNING):
        assert prepare("lsun", val_db, root, size=16)[1]
    assert f"dropped split 'train' of {folder}" in caplog.text and f"prepare it again from {train_db}" in caplog.text
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(manifest["splits"]) == ["val"] and not (folder / "train.npy").exists()
    (folder / "val.npy").write_bytes((folder / "val.npy").read_bytes()[:-100])
    shown = ganscape("data", "list", "--root", str(root)).stdout
    assert "val 4 (damaged: prepare it again)" in shown  # it listed a cut-short split as if it were whole


def test_folder_labels_refuse_loose_images_and_a_limit_that_keeps_one_class(files, tmp_path):
    """Images beside the class folders became a class named "."; --labels with a --limit that cut the sorted list to
    one class blamed the folder layout."""
    import shutil

    source = tmp_path / "pets"
    shutil.copytree(files / "pets", source)
    with pytest.raises(ConfigError, match=r"--limit: the first 3 images \(in path order\) are all in class 'cats'"):
        prepare("folder", source, tmp_path / "root", labels=True, size=8, limit=3)
    shutil.copy(source / "cats" / "000.jpg", source / "loose.jpg")
    with pytest.raises(ConfigError, match=r"--labels: .*loose.jpg lies beside the class folders, in no class"):
        prepare("folder", source, tmp_path / "root", labels=True, size=8)


def test_an_exif_rotated_photo_is_prepared_upright_and_a_too_large_crop_names_the_image(tmp_path):
    """EXIF orientation was ignored (phone photos came out sideways); --crop larger than one image of 200k did not
    say which."""
    source = tmp_path / "photos"
    source.mkdir()
    pixels = np.zeros((40, 80, 3), np.uint8)
    pixels[:, :40] = 255  # stored: white left half; orientation 6 shows it turned 90 degrees clockwise
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(source / "p.jpg", exif=exif, quality=95)
    folder, _ = prepare("folder", source, tmp_path / "root", size=32)
    upright = np.load(folder / "train.npy")[0].mean(axis=(1, 2))  # row means: white on top, black below
    assert upright[:12].min() > 200 and upright[-12:].max() < 50
    with pytest.raises(ConfigError, match=r"--crop: 60 is larger than an image of 40 x 80; .*\(image .*p.jpg\)"):
        prepare("folder", source, tmp_path / "root2", size=16, crop=60)


def test_hf_csv_paths_are_read_from_the_csv_folder_and_labels_are_one_per_row(tmp_path, monkeypatch):
    """Relative paths in a csv were read from the current folder (another dataset's images there were taken,
    silently); a None label became a class "None"; a list-valued label column was a pyarrow traceback."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    listed = tmp_path / "csvdir"
    (listed / "images").mkdir(parents=True)
    (tmp_path / "elsewhere" / "images").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(listed / "images" / f"{i}.png")
        Image.fromarray(np.full((8, 8, 3), 222, np.uint8)).save(tmp_path / "elsewhere" / "images" / f"{i}.png")
    (listed / "list.csv").write_text("image,label\n" + "".join(f"images/{i}.png,{i % 2}\n" for i in range(3)))
    monkeypatch.chdir(tmp_path / "elsewhere")
    folder, _ = prepare("hf", listed / "list.csv", tmp_path / "root", size=8, label_column="label")
    assert np.load(folder / "train.npy")[:, 0, 0, 0].tolist() == [0, 40, 80]
    for name, column in (("none", pa.array(["a", None, "b"])), ("lists", pa.array([[1], [2, 3], [0]]))):
        table = pa.table({"image": pa.array([(listed / "images" / f"{i}.png").read_bytes() for i in range(3)]),
                          "label": column})
        pq.write_table(table, tmp_path / f"{name}.parquet")
        with pytest.raises(ConfigError, match="--label-column: "):
            prepare("hf", tmp_path / f"{name}.parquet", tmp_path / "root", size=8, label_column="label")


def test_archive_members_larger_than_any_image_are_not_read_into_memory(files, tmp_path, monkeypatch):
    """A 1 MB zip holding a 1 GiB member took 2.3 GB of memory before the image was skipped; a CIFAR tarball's
    1 GiB junk member 1.3 GB before the error; a label of 10**30 was an OverflowError traceback."""
    from ganscape.data.prepare import base, cifar

    monkeypatch.setattr(base, "MAX_MEMBER_BYTES", 50_000)  # the same rule, at a size a test can afford
    monkeypatch.setattr(cifar, "MAX_MEMBER_BYTES", 50_000)
    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted((files / "pets").rglob("*.png")):
            z.write(path, path.relative_to(files / "pets").as_posix())
        z.writestr("cats/bomb.png", b"\0" * 200_000)  # compresses to a few hundred bytes
    read = []
    original = zipfile.ZipFile.read
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, name, *a: read.append(name) or original(self, name, *a))
    folder, _ = prepare("folder", archive, tmp_path / "root", size=8)
    assert "cats/bomb.png" not in [getattr(n, "filename", n) for n in read]
    assert json.loads((folder / "manifest.json").read_text())["skipped"] == 1
    junk = {"junk": b"\0" * 200_000}
    tarball = datafiles.cifar10_python(tmp_path / "c.tar.gz")
    with tarfile.open(tarball, "r:gz") as tar, tarfile.open(tmp_path / "j.tar.gz", "w:gz") as out:
        for m in tar:
            out.addfile(m, tar.extractfile(m))
        datafiles.add_file(out, "cifar-10-batches-py/junk", junk["junk"])
    members, names = cifar.read_members(tmp_path / "j.tar.gz", cifar.layout_files("cifar10"))
    assert "cifar-10-batches-py/junk" in names and "cifar-10-batches-py/junk" not in members
    monkeypatch.setattr(cifar, "MAX_MEMBER_BYTES", 10**9)  # a member of the right size, but no CIFAR file: not read
    members, _ = cifar.read_members(tmp_path / "j.tar.gz", cifar.layout_files("cifar10"))
    assert sorted(members) == sorted(f"cifar-10-batches-py/{n}" for n in ("batches.meta", "test_batch",
                                                                          *(f"data_batch_{i}" for i in range(1, 6))))
    batch = {b"labels": [10**30] + [0] * 11, b"data": np.zeros((12, 3072), np.uint8)}
    huge = datafiles.cifar10_python(tmp_path / "h.tar.gz", replace={"data_batch_1": pickle.dumps(batch, protocol=2)})
    with pytest.raises(ConfigError, match=r"label 1000000000000000000000000000000 is not a class id"):
        prepare("cifar10", huge, tmp_path / "root2")


def test_a_failed_png_folder_removes_the_folders_it_made_only_while_they_are_empty(tmp_path):
    """``ganscape sample --out new/deep/dir/`` removed the outermost folder it had made when sampling failed, with
    whatever another process had written there meanwhile."""
    from ganscape.utils.sample_files import write_png_folder

    def failing(after_others_wrote: bool):
        yield torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
        if after_others_wrote:
            (tmp_path / "new" / "theirs.txt").write_text("kept")
        raise RuntimeError("sampler died")

    for others in (False, True):
        with pytest.raises(RuntimeError, match="sampler died"):
            write_png_folder(failing(others), 4, tmp_path / "new" / "deep" / "pngs")
        if others:
            assert (tmp_path / "new" / "theirs.txt").read_text() == "kept"
            assert not (tmp_path / "new" / "deep").exists()
        else:
            assert not (tmp_path / "new").exists()


def test_a_folder_and_a_zip_of_it_give_the_images_in_the_same_order(tmp_path):
    """A folder's paths sorted by component, a zip's names as strings: 'a/b.png' and 'a-c.png' came out in opposite
    orders, so --limit and the arrays depended on which form was passed."""
    source = tmp_path / "x"
    (source / "a").mkdir(parents=True)
    Image.new("L", (8, 8), 10).save(source / "a" / "b.png")
    Image.new("L", (8, 8), 200).save(source / "a-c.png")
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as z:
        for name in ("a-c.png", "a/b.png"):
            z.write(source / name, name)
    folder, _ = prepare("folder", source, tmp_path / "r1", size=8, channels=1)
    zipped, _ = prepare("folder", tmp_path / "x.zip", tmp_path / "r2", size=8, channels=1)
    images = np.load(folder / "train.npy")
    assert images[:, 0, 0, 0].tolist() == [10, 200]  # a/b.png first: its folder 'a' sorts before 'a-c.png'
    assert np.array_equal(np.load(zipped / "train.npy"), images)
