"""Helpers shared by the kubeapi emulator tests: an HTTP client and a tiny test CRD."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
SECRETS = "/api/v1/namespaces/default/secrets"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
NAMESPACES = "/api/v1/namespaces"

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wd"],
            "categories": ["toys"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1},
                                    "color": {"type": "string", "default": "blue"},
                                    "tags": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


def widget_crd() -> dict[str, Any]:
    return copy.deepcopy(WIDGET_CRD)


def widget(name: str, size: int = 1, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, **metadata},
        "spec": {"size": size},
    }


class Client:
    """``requests`` against the emulator with the admin token (or another)."""

    def __init__(self, base: str, token: str | None, verify: str | bool = True) -> None:
        self.base = base
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.verify = verify

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        data = kwargs.pop("data", None)
        if body is not None:
            data = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        return self.session.request(
            method, self.base + path, data=data, headers=headers, verify=self.verify, timeout=30, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any, kind: str = "merge", **kwargs: Any) -> requests.Response:
        media = {"merge": "merge-patch", "json": "json-patch", "strategic": "strategic-merge-patch"}[kind]
        headers = {"Content-Type": f"application/{media}+json"}
        return self.request("PATCH", path, body, headers=headers, **kwargs)

    def delete(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, body, **kwargs)

    def ok(self, response: requests.Response, status: int | tuple[int, ...] = (200, 201)) -> Any:
        expected = (status,) if isinstance(status, int) else status
        assert response.status_code in expected, response.text
        return response.json()

    def create(self, path: str, body: Any) -> Any:
        return self.ok(self.post(path, body), 201)

    def read(self, path: str, **kwargs: Any) -> Any:
        return self.ok(self.get(path, **kwargs), 200)

    def watch(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Events of a watch, parsed, until the server closes it."""
        params = {"watch": "true", **params}
        with self.session.get(self.base + path, params=params, stream=True, verify=self.verify, timeout=30) as r:
            assert r.status_code == 200, r.text
            for line in r.iter_lines():
                if line:
                    yield json.loads(line)


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy (for the emulator's deferred controllers)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
    return result


def status_of(response: requests.Response) -> dict[str, Any]:
    """The Status body of an error response, checked for the fields every Status has."""
    body: dict[str, Any] = response.json()
    assert (body["kind"], body["apiVersion"]) == ("Status", "v1"), body
    assert (body["status"], body["code"]) == ("Failure", response.status_code), body
    assert response.headers["Content-Type"].startswith("application/json")
    return body
