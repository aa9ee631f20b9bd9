"""Exchange bodies carry every field hzn sends, typed as the Exchange stores them."""

from __future__ import annotations

from typing import Any

import pytest

from horizon_publisher.desired import exchange_bodies as bodies

SERVICE = {
    "url": "com.example.hello",
    "version": "1.0.0",
    "label": "Hello",
    "sharable": "singleton",
    "userInput": [
        {"name": "N", "type": "int", "defaultValue": 3},
        {"name": "B", "type": "boolean", "defaultValue": True},
    ],
    "requiredServices": [{"url": "com.example.dep", "versionRange": "[1.0.0,INFINITY)"}],
}


def test_service_body_has_every_field_hzn_sends() -> None:
    body = bodies.service_body(SERVICE, org="myorg", arch="arm64", deployment='{"services":{}}', signature="c2ln")
    assert set(body) == {
        "label", "description", "documentation", "public", "url", "version", "arch", "sharable", "matchHardware",
        "requiredServices", "userInput", "deployment", "deploymentSignature", "clusterDeployment",
        "clusterDeploymentSignature",
    }  # fmt: skip
    assert (body["arch"], body["description"], body["public"], body["documentation"]) == ("arm64", "Hello", False, "")
    assert body["requiredServices"] == [
        {"url": "com.example.dep", "org": "myorg", "arch": "arm64", "versionRange": "[1.0.0,INFINITY)"}
    ]
    # The Exchange types userInput as string maps.
    assert body["userInput"][0]["defaultValue"] == "3"
    assert body["userInput"][1]["defaultValue"] == "true"


@pytest.mark.parametrize(
    ("service", "label"),
    [({"url": "u", "version": "1"}, "u"), ({"url": "u", "version": "1", "label": "L"}, "L")],
)
def test_label_defaults_to_the_url(service: dict[str, Any], label: str) -> None:
    assert bodies.service_body(service, org="o", arch="amd64", deployment="", signature="")["label"] == label


def test_pattern_lists_every_arch_with_the_version() -> None:
    body = bodies.pattern_body({"name": "p"}, org="o", service_url="u", version="1.2.3", arches=["amd64", "arm64"])
    assert [s["serviceArch"] for s in body["services"]] == ["amd64", "arm64"]
    assert body["services"][0]["serviceVersions"] == [{"version": "1.2.3"}]
    assert body["label"] == "p"


def test_business_policy_names_the_service_for_any_arch() -> None:
    body = bodies.business_policy_body({"name": "d", "constraints": ["a == b"]}, org="o", service_url="u", version="1")
    assert body["service"] == {"name": "u", "org": "o", "arch": "*", "serviceVersions": [{"version": "1"}]}
    assert body["constraints"] == ["a == b"]


def test_user_input_defaults_to_this_service() -> None:
    entries = [
        {"inputs": [{"name": "HW_WHO", "value": "Edge"}]},
        {"serviceUrl": "other", "serviceArch": "arm64", "inputs": []},
    ]
    first, second = bodies.user_inputs(entries, org="o", service_url="u")
    assert first == {
        "serviceOrgid": "o",
        "serviceUrl": "u",
        "serviceArch": "",
        "serviceVersionRange": "[0.0.0,INFINITY)",
        "inputs": [{"name": "HW_WHO", "value": "Edge"}],
    }
    assert (second["serviceUrl"], second["serviceArch"]) == ("other", "arm64")


def test_service_policy_adds_the_built_in_properties_which_win() -> None:
    policy = {
        "properties": [{"name": "a", "value": 1}, {"name": "openhorizon.service.arch", "value": "x"}],
        "constraints": ["c"],
    }
    body = bodies.service_policy_body(policy, url="u", org="o", version="1.0.0", arch="arm64")
    values = {p["name"]: p["value"] for p in body["properties"]}
    assert values == {
        "a": 1,
        "openhorizon.service.url": "u",
        "openhorizon.service.name": "u",
        "openhorizon.service.org": "o",
        "openhorizon.service.version": "1.0.0",
        "openhorizon.service.arch": "arm64",
    }
    assert body["constraints"] == ["c"]
