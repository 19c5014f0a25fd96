"""What the Chromium console tests share: a live uvicorn server, Debian's Chromium, fresh tabs."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, sync_playwright

from siyu.core import crypto
from siyu.core.crypto import Keyring, set_keyring

# Without the networking flags Chromium stalls on a closed network.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, timeout: float = 20.0) -> None:
    """Poll /api/v1/health until it answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run the app under uvicorn in a thread on a free local port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def own_keyring(folder: Path) -> Iterator[Keyring]:
    """A keyring of the live server's own, installed while it runs, then the previous one back."""
    previous = crypto._keyring
    ring = Keyring.load_or_create(folder)
    set_keyring(ring)
    try:
        yield ring
    finally:
        set_keyring(previous)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium; missing fails in CI and skips elsewhere."""
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI must install it (apt-get install chromium)")
        pytest.skip("chromium is not installed here")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@contextmanager
def fresh_tab(browser: Browser, url: str) -> Iterator[Page]:
    """A fresh browser context (no cookies) whose browser asks for Chinese, as users here do."""
    context = browser.new_context(
        base_url=url, locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def path(page: Page) -> str:
    """The path of the page's current URL."""
    return urlparse(page.url).path
