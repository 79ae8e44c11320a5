"""`gnrcnn serve` as a real process: the API, bad input, the API key, load, overflow and SIGTERM."""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
import zlib
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from gnrcnn import GnrcnnError, load_model
from gnrcnn.data.image_io import read_image
from gnrcnn.serve import ServeOptions, create_app

from serve_helpers import KEY, ServerProcess, app_in_thread, png_bytes

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def server(tiny_trained: Path, tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with ServerProcess(tiny_trained, log, "--max-upload-mb", "1", "--max-pixels", "4e6") as srv:
        yield srv


@pytest.fixture(scope="module")
def detector(tiny_trained: Path):
    return load_model(weights=tiny_trained)


@pytest.fixture(scope="module")
def reference(detector):
    """What `gnrcnn predict` computes for an image: (category_id, bbox, score) per detection."""
    return lambda image, det=detector: records(det, image)


def records(det, image: np.ndarray) -> list[tuple]:
    return [(r["category_id"], r["bbox"], r["score"]) for r in det.predict(image, color="rgb")[0].to_coco()]


@pytest.fixture(scope="module")
def picture(shapes8: Path) -> np.ndarray:
    return read_image(shapes8 / "val" / "1000000.png")


def same_detections(reply: dict, expected: list[tuple]) -> None:
    got = [(d["category_id"], d["bbox"], d["score"]) for d in reply["detections"]]
    assert len(got) == len(expected)
    for (c1, b1, s1), (c2, b2, s2) in zip(got, expected):
        assert c1 == c2 and s1 == pytest.approx(s2, abs=2e-4) and b1 == pytest.approx(b2, abs=2e-2)


def post(srv: ServerProcess, data: bytes, ctype: str = "image/png", path: str = "/predict") -> httpx.Response:
    return srv.client.post(path, content=data, headers={"Content-Type": ctype})


def test_predict_json_png_and_model(server: ServerProcess, picture: np.ndarray, reference) -> None:
    info = server.client.get("/model").json()
    assert info["class_names"] == ["circle", "triangle", "rectangle"] and info["device"] == "cpu"
    assert len(info["weights"]["sha256"]) == 64 and info["precision"] == "fp32"
    raw = post(server, png_bytes(picture))
    multipart = server.client.post("/predict", files={"image": ("a.png", png_bytes(picture), "image/png")})
    assert raw.status_code == multipart.status_code == 200, raw.text
    reply = raw.json()
    assert reply["image"] == {"width": 128, "height": 128} and reply["detections"], reply
    same_detections(reply, reference(picture))
    assert multipart.json()["detections"] == reply["detections"]
    assert set(reply["timings_ms"]) == {"upload", "decode", "queue", "inference", "encode", "total"}
    for d in reply["detections"]:
        assert d["category"] == info["class_names"][info["category_ids"].index(d["category_id"])]
        assert mask_utils.decode(d["segmentation"]).shape == (128, 128)
    thr = sorted(d["score"] for d in reply["detections"])[len(reply["detections"]) // 2]
    some = server.client.post(f"/predict?score_thr={thr}&max_detections=2&masks=false", content=png_bytes(picture),
                              headers={"Content-Type": "image/png"}).json()  # fmt: skip
    assert 1 <= len(some["detections"]) <= 2 and all(d["score"] >= thr for d in some["detections"])
    assert all("segmentation" not in d for d in some["detections"])
    png = post(server, png_bytes(picture), path="/predict.png?score_thr=0.1")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert np.asarray(Image.open(io.BytesIO(png.content))).shape == (128, 128, 3)


def bomb(side: int = 30000) -> bytes:
    """A 5 KB PNG declaring side x side RGB pixels: its first rows of zeros, compressed (a decoder that
    trusted the header would allocate 2.7 GB for 30000 x 30000)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    idat = zlib.compress(bytes(50 * (1 + 3 * side)), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)


def test_a_bomb_is_refused_from_its_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """No decoder runs: the size in the header decides (here with the pixel limit a server passes)."""
    from gnrcnn.data import image_io

    def no_decoding(*args):
        raise AssertionError("the bomb reached a decoder")

    monkeypatch.setattr(image_io, "_decode", no_decoding)
    monkeypatch.setattr(image_io, "_decode_with_opencv", no_decoding)
    for side, words in [(10000, "10000 x 10000 = 100.0 Mpx, over the limit of 40.0 Mpx"),
                        (30000, "900.0 Mpx, over the limit of 40.0 Mpx")]:  # fmt: skip
        assert len(bomb(side)) < 6000
        with pytest.raises(image_io.ImageTooLargeError, match=words):
            image_io.decode_image_bytes(bomb(side), "upload", max_pixels=40_000_000)


def test_bad_input_gets_4xx_and_the_next_request_is_answered(server: ServerProcess, picture: np.ndarray,
                                                           reference) -> None:  # fmt: skip
    good = png_bytes(picture)
    expected = reference(picture)
    jpeg = cv2.imencode(".jpg", picture)[1].tobytes()
    cases = [
        ("not an image", lambda: post(server, b"hello, this is text" * 10), 400,
         "not a decodable image (no JPEG, PNG, GIF, WebP, BMP or TIFF header)"),
        ("truncated png", lambda: post(server, good[: len(good) // 2]), 400,
         "not a decodable image (a truncated or corrupt PNG file)"),
        ("truncated jpeg", lambda: post(server, jpeg[: len(jpeg) // 2], "image/jpeg"), 400,
         "not a decodable image (a truncated or corrupt JPEG file)"),
        ("empty body", lambda: post(server, b""), 400, "empty body"),
        ("empty file part", lambda: server.client.post("/predict", files={"image": ("e.png", b"")}), 400, "empty"),
        ("no file part", lambda: server.client.post("/predict", data={"x": "1"}, files={"y": (None, b"2")}), 400,
         "no file part"),
        ("broken multipart", lambda: post(server, b"--zz\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nab",
                                          "multipart/form-data; boundary=zz"), 400, "malformed multipart"),
        ("text content type", lambda: post(server, good, "text/plain"), 415, "Content-Type text/plain"),
        ("form-urlencoded (curl --data-binary without -H)",
         lambda: post(server, good, "application/x-www-form-urlencoded"), 415, "multipart/form-data"),
        ("no content type", lambda: server.client.post("/predict", content=good), 415, "(none)"),
        ("over the size limit", lambda: post(server, good + bytes(1100 * 1024)), 413, "over the limit of 1.0 MB"),
        ("decompression bomb", lambda: post(server, bomb()), 413, "declares 900.0 Mpx, over the limit of 4.0 Mpx"),
        ("unknown format", lambda: post(server, _ico(picture)), 400, "ICO images are not supported"),
        ("bad option", lambda: post(server, good, path="/predict?score_thr=7"), 400, "score_thr"),
        ("unknown option", lambda: post(server, good, path="/predict?thr=0.5"), 400, "unknown query option"),
        ("wrong method", lambda: server.client.get("/predict"), 405, "not allowed"),
        ("no such endpoint", lambda: server.client.get("/nothing"), 404, "no such endpoint"),
    ]  # fmt: skip
    for name, send, status, words in cases:
        r = send()
        assert r.status_code == status and words in r.json()["error"], (name, r.status_code, r.text)
        after = post(server, good)
        assert after.status_code == 200, (name, after.text)
        same_detections(after.json(), expected)
    health = server.client.get("/health").json()
    assert health["admitted"] == 0 and health["waiting"] == 0


def _ico(picture: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, "ICO")
    return buf.getvalue()


def test_odd_images_are_read_as_predict_reads_them(server: ServerProcess, picture: np.ndarray, reference,
                                                   tmp_path: Path) -> None:  # fmt: skip
    """1 x 1, 16-bit, CMYK and EXIF-rotated images: the reply is what predict computes from the same file."""
    rotated = Image.fromarray(picture[:, :100])  # 128 x 100: a rotation shows in the reply's size
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    deep = cv2.imencode(".png", picture[..., ::-1].astype(np.uint16) * 257)[1]  # 16 bits per sample (cv2: BGR)
    files = {"one.png": png_bytes(picture[:1, :1]), "deep.png": deep,
             "cmyk.jpg": _pil_bytes(Image.fromarray(picture).convert("CMYK"), "JPEG"),
             "exif.jpg": _pil_bytes(rotated, "JPEG", exif=exif)}  # fmt: skip
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(bytes(data))
        image = read_image(path)
        r = server.client.post("/predict", files={"image": (name, bytes(data))})
        assert r.status_code == 200, (name, r.text)
        assert r.json()["image"] == {"width": image.shape[1], "height": image.shape[0]}, name
        same_detections(r.json(), reference(image))
    assert r.json()["image"] == {"width": 128, "height": 100}  # the EXIF rotation was applied
    assert np.array_equal(read_image(tmp_path / "deep.png"), picture)  # 16 -> 8 bits gives the picture back


def _pil_bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_api_key_guards_all_but_health(server: ServerProcess, picture: np.ndarray) -> None:
    bare = httpx.Client(base_url=server.url, timeout=60)
    assert bare.get("/health").status_code == 200
    for method, path in [("GET", "/"), ("GET", "/app.js"), ("GET", "/model"), ("POST", "/predict"),
                         ("POST", "/predict.png"), ("GET", "/nothing")]:  # fmt: skip
        r = bare.request(method, path, content=png_bytes(picture), headers={"Content-Type": "image/png"})
        assert r.status_code == 401 and "API key" in r.json()["error"], (path, r.status_code)
        assert r.headers["www-authenticate"].startswith("Basic")
    wrong = bare.get("/model", headers={"Authorization": f"Bearer {KEY[:-1]}x"})
    assert wrong.status_code == 401
    assert bare.get("/model", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert bare.get("/", auth=("anyone", KEY)).status_code == 200  # Basic: how the browser sends it
    page = server.client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/app.js", "/style.css"):
        assert server.client.get(asset).status_code == 200
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)  # nothing loaded from elsewhere
    bare.close()


def test_bounded_load_four_clients(server: ServerProcess, picture: np.ndarray) -> None:
    """4 concurrent clients x 25 requests: zero errors; p50/p95 latency printed."""
    data = png_bytes(picture)
    latencies: list[float] = []
    errors: list[str] = []

    def client() -> None:
        with httpx.Client(base_url=server.url, timeout=120, headers={"X-API-Key": KEY}) as c:
            for _ in range(25):
                start = time.perf_counter()
                r = c.post("/predict", content=data, headers={"Content-Type": "image/png"})
                latencies.append(time.perf_counter() - start)
                if r.status_code != 200 or not r.json()["detections"]:
                    errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(4)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    assert not errors and len(latencies) == 100, errors[:3]
    p50, p95 = np.percentile(latencies, [50, 95])
    print(f"\nserve load: 4 clients x 25 requests, 128 px, {100 / wall:.1f} req/s, p50 {1000 * p50:.0f} ms, "
          f"p95 {1000 * p95:.0f} ms (shared CPU)")  # fmt: skip
    assert server.client.get("/health").json()["admitted"] == 0


@pytest.fixture(scope="module")
def slow_server(tiny_trained: Path, tmp_path_factory: pytest.TempPathFactory):
    """The tiny model at 800 px (about a second per image): requests overlap; at most 2 admitted."""
    log = tmp_path_factory.mktemp("serve_slow") / "server.log"
    with ServerProcess(tiny_trained, log, "--queue", "2", "--set", "input.short=800", "--set", "input.long=800") as srv:
        yield srv


def test_queue_overflow_answers_503_with_retry_after(slow_server: ServerProcess, picture: np.ndarray) -> None:
    data = png_bytes(picture)
    barrier = threading.Barrier(8)
    replies: list[httpx.Response] = []

    def client() -> None:
        with httpx.Client(base_url=slow_server.url, timeout=120, headers={"X-API-Key": KEY}) as c:
            barrier.wait()
            replies.append(c.post("/predict", content=data, headers={"Content-Type": "image/png"}))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in replies)
    assert set(codes) == {200, 503} and codes.count(200) >= 2, codes
    for r in replies:
        if r.status_code == 503:
            assert int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["error"]
    assert slow_server.client.get("/health").json()["admitted"] == 0


def test_sigterm_finishes_the_request_in_flight(slow_server: ServerProcess, picture: np.ndarray) -> None:
    result: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: result.append(post(slow_server, png_bytes(picture))))
    sender.start()
    deadline = time.monotonic() + 60
    while slow_server.client.get("/health").json()["running"] == 0:  # wait until it is in the model
        assert time.monotonic() < deadline and sender.is_alive()
        time.sleep(0.02)
    assert slow_server.terminate() == 0
    sender.join()
    assert result[0].status_code == 200 and json.loads(result[0].text)["image"]["width"] == 128
    assert "SIGTERM: stopped after finishing every admitted request" in slow_server.log()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{slow_server.url}/health", timeout=5)


def concurrently(client, images: list[np.ndarray]) -> list[httpx.Response]:
    """POST every image at once, one thread each; the replies in the images' order."""
    barrier = threading.Barrier(len(images))
    replies: list = [None] * len(images)

    def send(i: int) -> None:
        barrier.wait()
        replies[i] = client.post("/predict", content=png_bytes(images[i]), headers={"Content-Type": "image/png"})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return replies


def test_batching_groups_equal_sizes_and_changes_no_result(tiny_trained: Path, picture: np.ndarray) -> None:
    """In process (the model loaded here, uvicorn in a thread): waiting images of the same padded size run as one batch,
    and every reply is the image's result alone; an image of another size never joins their batch."""
    det = load_model(weights=tiny_trained, overrides=["input.short=512", "input.long=512"])  # slow enough to queue
    narrow = np.ascontiguousarray(picture[:, :100])  # 512 x 400: another padded size
    images = [picture, narrow, picture, narrow, picture, picture]
    expected = {id(im): records(det, im) for im in (picture, narrow)}
    with app_in_thread(create_app(det, ServeOptions(queue=8, max_batch=4))) as client:
        replies = concurrently(client, images)
        assert client.get("/health").json()["admitted"] == 0
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    sizes = [r.json()["batch_size"] for r in replies]
    assert max(sizes) >= 2 and max(sizes[1], sizes[3]) <= 2, sizes  # the two narrow ones at most together
    for image, r in zip(images, replies):
        same_detections(r.json(), expected[id(image)])


def test_time_limit_answers_504_and_frees_the_slot(tiny_trained: Path, picture: np.ndarray) -> None:
    det = load_model(weights=tiny_trained, overrides=["input.short=800", "input.long=800"])
    with app_in_thread(create_app(det, ServeOptions(queue=4, timeout_s=0.05))) as client:
        replies = concurrently(client, [picture, picture])
        assert [r.status_code for r in replies] == [504, 504], [r.text for r in replies]
        assert all("time limit of 0.05 s" in r.json()["error"] for r in replies)
        deadline = time.monotonic() + 120
        while (health := client.get("/health").json())["admitted"]:  # the abandoned run still holds its slot
            assert time.monotonic() < deadline, health
            time.sleep(0.05)
        assert health["waiting"] == 0 and health["running"] == 0
        with socket.create_connection((client.base_url.host, client.base_url.port), timeout=60) as sock:
            sock.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n"
            )
            sock.sendall(png_bytes(picture)[:100])  # and then nothing: a client that stalls mid-upload
            assert sock.recv(4096).startswith(b"HTTP/1.1 408 ")


def test_address_checks_and_options(capsys: pytest.CaptureFixture) -> None:
    from gnrcnn.cli import main
    from gnrcnn.serve.server import check_address, is_loopback

    assert all(map(is_loopback, ["127.0.0.1", "127.8.0.1", "::1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.20", "example.org"]))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(GnrcnnError, match=f"cannot listen on 127.0.0.1:{taken.getsockname()[1]}"):
            check_address("127.0.0.1", taken.getsockname()[1])
    for flags, words in [(["--api-key", "short"], "at least 8 printable ASCII"), (["--queue", "0"], "--queue"),
                         (["--max-pixels", "-1"], "--max-pixels"), (["--port", "70000"], "not a port")]:  # fmt: skip
        assert main(["serve", "--config", "tiny", *flags]) == 2  # refused before any model is built
        assert words in capsys.readouterr().err


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_dropped_client_a_100_mb_upload_and_a_50k_png_leave_the_server_well(server: ServerProcess,
                                                                              picture: np.ndarray) -> None:  # fmt: skip
    """Each gets its 4xx (or the connection closed on it), the server's peak memory stays where it was, and
    the next normal request is answered right (the peak is printed: docs/reliability.md)."""
    assert post(server, png_bytes(picture)).status_code == 200  # the model's own working memory, first
    before = _peak_rss_mb(server.proc.pid)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:  # gone mid-upload
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 900000\r\n"
                  + f"X-API-Key: {server.key}\r\n\r\n".encode() + bytes(200_000))  # fmt: skip
    deadline = time.monotonic() + 60
    while server.client.get("/health").json()["admitted"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.client.get("/health").json()["admitted"] == 0  # its slot came back
    assert "Traceback" not in server.log()  # the 400 it got has no one to read it; nothing else is said

    def hundred_mb():
        for _ in range(100):
            yield bytes(1 << 20)

    try:  # no Content-Length (chunked): refused once 1 MB has come, the rest never read
        big = server.client.post("/predict", content=hundred_mb(), headers={"Content-Type": "image/png"})
        assert big.status_code == 413 and "over the limit of 1.0 MB" in big.json()["error"], big.text
    except httpx.TransportError:
        pass  # the server answered and closed while the client was still sending: also a refusal
    giant = post(server, bomb(50_000))
    assert giant.status_code == 413 and "declares 2500.0 Mpx" in giant.json()["error"], giant.text
    assert post(server, png_bytes(picture)).status_code == 200
    after = _peak_rss_mb(server.proc.pid)
    print(f"server peak RSS {before:.0f} MB before, {after:.0f} MB after")
    assert after - before < 64, (before, after)
