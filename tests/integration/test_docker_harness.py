"""The test image every Docker test builds on: FROM scratch + busybox, built and run for real."""

from __future__ import annotations

import uuid

from tests.harness import build_busybox_image, docker_client


def test_busybox_image_builds_and_runs(docker_engine: None) -> None:
    client = docker_client()
    try:
        build_busybox_image(client)
        name = f"appos-test-{uuid.uuid4().hex[:8]}"
        output = client.containers.run(
            "appos-test/busybox:latest",
            ["sh", "-c", "echo hello from $(hostname) && which httpd nc wget"],
            name=name,
            hostname="busy",
            remove=True,
            network_mode="none",
        )
        text = output.decode()
        assert "hello from busy" in text
        assert "/bin/httpd" in text and "/bin/nc" in text and "/bin/wget" in text
    finally:
        client.close()
