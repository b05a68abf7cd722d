"""A small HTTP client for the demo's calls (standard library only: the demo needs no client package)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from recengine.errors import RecengineError


class ApiCallError(RecengineError):
    """A demo call got an error answer; the message carries the API's error body."""


class ApiClient:
    """JSON calls to the API with a key, and fetches of the images its answers link to."""

    def __init__(self, base_url: str, key: str, *, timeout_s: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout_s = timeout_s

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}{path}"

    def _send(self, request: urllib.request.Request) -> bytes:
        request.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                return bytes(answer.read())
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            raise ApiCallError(f"{request.get_method()} {request.full_url}: {exc.code} {body[:500]}") from exc

    def get(self, path: str) -> Any:
        return json.loads(self._send(urllib.request.Request(self._url(path))))

    def get_bytes(self, path: str) -> bytes:
        return self._send(urllib.request.Request(self._url(path)))

    def post(self, path: str, body: Any) -> Any:
        request = urllib.request.Request(self._url(path), data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        return json.loads(self._send(request))

    def post_image(self, path: str, image: bytes, filename: str, content_type: str, fields: dict[str, str]) -> Any:
        """A multipart/form-data POST: ``image`` as the file part, ``fields`` as text parts."""
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                 for name, value in fields.items()]  # fmt: skip
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
                     f"Content-Type: {content_type}\r\n\r\n".encode() + image + b"\r\n")  # fmt: skip
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        request = urllib.request.Request(self._url(path), data=data, method="POST", headers=headers)
        return json.loads(self._send(request))

    def wait_job(self, job_url: str, *, timeout_s: float = 300.0) -> dict[str, Any]:
        """Poll a job until it succeeds; :class:`ApiCallError` when it fails or the time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job: dict[str, Any] = self.get(job_url)
            if job["status"] == "succeeded":
                return job
            if job["status"] in ("failed", "cancelled"):
                raise ApiCallError(f"job {job['id']} ({job['kind']}) {job['status']}: {job.get('error')}")
            time.sleep(0.5)
        raise ApiCallError(f"job {job_url} did not finish in {timeout_s:.0f} s (is a worker running?)")
