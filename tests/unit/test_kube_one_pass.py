"""``Kube.for_one_pass``: one GET per object per reconcile; a write forgets what was read."""

from __future__ import annotations

import json
from typing import Any

from horizon_publisher.clients.kube import CONFIG_MAPS, SECRETS, Kube


class FakeResponse:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.data = json.dumps(body).encode() if body is not None else b""

    def read(self) -> None:
        return None


class FakeApi:
    """What Kube needs of an ApiClient; every call recorded as ``METHOD path``; objects by path."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.objects: dict[str, dict[str, Any]] = {}

    def param_serialize(self, *, method: str, resource_path: str, **_: Any) -> tuple[str, str]:
        return method, resource_path

    def call_api(self, method: str, path: str, **_: Any) -> FakeResponse:
        self.calls.append(f"{method} {path}")
        if method == "GET":
            found = self.objects.get(path)
            return FakeResponse(200, found) if found is not None else FakeResponse(404, {"kind": "Status"})
        return FakeResponse(200, {})


SECRET = "/api/v1/namespaces/ns/secrets/s"


def test_an_object_is_fetched_once_per_pass_and_answers_are_copies() -> None:
    api = FakeApi()
    api.objects[SECRET] = {"data": {"k": "v"}}
    one_pass = Kube(api).for_one_pass()  # type: ignore[arg-type]
    first = one_pass.get(SECRETS, "ns", "s")
    assert first is not None
    first["data"]["k"] = "changed by a caller"
    assert one_pass.get(SECRETS, "ns", "s") == {"data": {"k": "v"}}
    assert one_pass.get(CONFIG_MAPS, "ns", "missing") is None
    assert one_pass.get(CONFIG_MAPS, "ns", "missing") is None
    assert api.calls == [f"GET {SECRET}", "GET /api/v1/namespaces/ns/configmaps/missing"]


def test_a_write_forgets_every_answer() -> None:
    api = FakeApi()
    api.objects[SECRET] = {"data": {"k": "v"}}
    one_pass = Kube(api).for_one_pass()  # type: ignore[arg-type]
    one_pass.get(SECRETS, "ns", "s")
    one_pass.merge_patch(SECRETS, "ns", "s", {"data": {"k": "w"}})
    one_pass.get(SECRETS, "ns", "s")
    assert api.calls == [f"GET {SECRET}", f"PATCH {SECRET}", f"GET {SECRET}"]


def test_each_pass_and_the_parent_read_afresh() -> None:
    api = FakeApi()
    api.objects[SECRET] = {"data": {}}
    parent = Kube(api)  # type: ignore[arg-type]
    parent.for_one_pass().get(SECRETS, "ns", "s")
    parent.for_one_pass().get(SECRETS, "ns", "s")
    parent.get(SECRETS, "ns", "s")
    parent.get(SECRETS, "ns", "s")
    assert api.calls == [f"GET {SECRET}"] * 4
