"""The horizon/ folder read as hzn reads it: os.Expand over the text, hzn.json variables, Go-like decoding."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.desired.exchange_bodies import service_body
from horizon_publisher.horizon_files import (
    HorizonFilesError,
    RequiredService,
    UserInput,
    definition_from_spec,
    for_arch,
    load_service_definition,
    merge_with_spec,
    substitute,
)

DEF, HZN = "service.definition.json", "hzn.json"


def go_indent(obj: Any) -> str:
    """json.MarshalIndent(obj, "", "    ") as hzn's CreateFile writes it (no trailing newline)."""
    return json.dumps(obj, indent=4, ensure_ascii=False)


def hzn_dev_files(
    name: str = "myservice",
    version: str = "1.0.0",
    image: str = "myregistry.example.com/ns/myservice",
    org: str = "myorg",
    no_image_gen: bool = False,
) -> dict[str, str]:
    """What `hzn dev service new -s NAME -V VERSION -i IMAGE -o ORG` writes (anax cli/dev/hznenv.go and
    servicedefinition.go: Go struct field order, MarshalIndent with four spaces)."""
    hzn = {
        "HZN_ORG_ID": org,
        "MetadataVars": {"DOCKER_IMAGE_BASE": image, "SERVICE_NAME": name, "SERVICE_VERSION": version},
    }
    ui = {"name": "HW_WHO", "label": "Who to say hello to", "type": "string", "defaultValue": "World"}
    if no_image_gen:
        ui = dict.fromkeys(ui, "")
    container = {
        "image": "${DOCKER_IMAGE_BASE}_$ARCH:$SERVICE_VERSION",
        "privileged": False,
        "network": "",
        "secrets": {},
    }
    definition = {
        "org": "$HZN_ORG_ID",
        "label": "$SERVICE_NAME for $ARCH",
        "description": "",
        "public": False,
        "documentation": "",
        "url": "$SERVICE_NAME",
        "version": "$SERVICE_VERSION",
        "arch": "$ARCH",
        "sharable": "multiple",
        "requiredServices": [],
        "userInput": [ui],
        "deployment": {"services": {image.rsplit("/", 1)[-1]: container}},
    }
    return {HZN: go_indent(hzn), DEF: go_indent(definition)}


def load(definition: Any, hzn: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    files = {DEF: definition if isinstance(definition, str) else json.dumps(definition)}
    if hzn is not None:
        files[HZN] = json.dumps(hzn)
    return load_service_definition(files, **kwargs)


def minimal(**fields: Any) -> dict[str, Any]:
    return {
        "org": "o",
        "url": "svc",
        "version": "1.0.0",
        "arch": "amd64",
        "deployment": {"services": {"svc": {"image": "r/svc:1"}}},
        **fields,
    }


def error_of(call: Any, *args: Any, **kwargs: Any) -> HorizonFilesError:
    with pytest.raises(HorizonFilesError) as caught:
        call(*args, **kwargs)
    return caught.value


# ---- the files hzn dev service new writes --------------------------------------------------------


BASE = "myregistry.example.com/ns/myservice"


@pytest.mark.parametrize(
    ("arch", "overrides", "org", "expected"),
    [
        ("amd64", {}, None, (f"{BASE}_amd64:1.0.0", "myservice for amd64", "1.0.0")),
        ("arm64", {}, None, (f"{BASE}_arm64:1.0.0", "myservice for arm64", "1.0.0")),
        ("arm", {"SERVICE_VERSION": "2.0"}, None, (f"{BASE}_arm:2.0", "myservice for arm", "2.0")),
        (
            "amd64",
            {"DOCKER_IMAGE_BASE": "h:5000/p/x"},
            "myorg",
            ("h:5000/p/x_amd64:1.0.0", "myservice for amd64", "1.0.0"),
        ),
        ("s390x", {"ARCH": "amd64"}, None, (f"{BASE}_s390x:1.0.0", "myservice for s390x", "1.0.0")),
    ],
)
def test_hzn_dev_service_new_files_expand_per_arch(
    arch: str, overrides: dict[str, str], org: str | None, expected: tuple[str, str, str]
) -> None:
    image, label, version = expected
    loaded = load_service_definition(hzn_dev_files(), overrides=overrides, org=org)
    assert loaded.arch == "$ARCH"
    assert loaded.arch_varies
    assert loaded.variables_used == ("ARCH", "DOCKER_IMAGE_BASE", "HZN_ORG_ID", "SERVICE_NAME", "SERVICE_VERSION")
    one = for_arch(loaded, arch)
    assert (one.org, one.url, one.version, one.arch, one.label) == ("myorg", "myservice", version, arch, label)
    container = {"image": image, "privileged": False, "network": "", "secrets": {}}
    assert one.deployment == {"services": {"myservice": container}}
    assert one.user_input == (UserInput("HW_WHO", "Who to say hello to", "string", "World"),)
    assert (one.sharable, one.public, one.required_services, one.arch_varies) == ("multiple", False, (), False)


def test_no_image_gen_placeholder_user_input_is_dropped() -> None:
    assert for_arch(load_service_definition(hzn_dev_files(no_image_gen=True)), "amd64").user_input == ()


def test_published_fields_feed_the_exchange_body() -> None:
    merged = merge_with_spec(load_service_definition(hzn_dev_files()), {"url": "myservice"}, org="myorg")
    body = service_body(
        for_arch(merged, "arm64").service_fields(), org="myorg", arch="arm64", deployment="{}", signature="s"
    )
    assert (body["label"], body["description"], body["url"], body["version"]) == (
        "myservice for arm64",
        "myservice for arm64",
        "myservice",
        "1.0.0",
    )
    assert body["userInput"] == [
        {"name": "HW_WHO", "label": "Who to say hello to", "type": "string", "defaultValue": "World"}
    ]


# ---- os.Expand syntax ----------------------------------------------------------------------------

VARS = {"A": "x", "A_B": "y", "1": "one", "$": "pid", "A B": "spaced", "ARCH": "amd64"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$A", "x"),
        ("${A}", "x"),
        ("$A_B", "y"),
        ("$A-B", "x-B"),
        ("${A}B", "xB"),
        ("pre$A.post", "prex.post"),
        ("$1", "one"),
        ("$12", "one2"),
        ("${1}", "one"),
        ("$$", "pid"),
        ("$$A", "pidA"),
        ("${A B}", "spaced"),
        ("${}", ""),
        ("a${}b", "ab"),
        ("x${", "x"),
        ("x${A", "xA"),
        ("$", "$"),
        ("a$", "a$"),
        ("$ A", "$ A"),
        ("$.", "$."),
        ('"$"', '"$"'),
        ("$é", "$é"),
        ("€$A€", "€x€"),
        ("no dollars", "no dollars"),
    ],
)
def test_substitution_follows_go_os_expand(text: str, expected: str) -> None:
    assert substitute(text, VARS) == expected


@pytest.mark.parametrize(("text", "expected"), [("$ARCH", "$ARCH"), ("${ARCH}_$A", "${ARCH}_x"), ("$ARCHX", "")])
def test_deferred_variables_are_kept_as_written(text: str, expected: str) -> None:
    assert substitute(text, {**VARS, "ARCHX": ""}, deferred={"ARCH"}) == expected


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("$NOPE", '"NOPE" at line 1, column 1'),
        ("a\n  ${X:-default}", '"X:-default" at line 2, column 3'),
        ("$2", '"2" at line 1, column 1'),
        ("$$", '"$" at line 1, column 1'),
    ],
)
def test_a_variable_without_value_is_named_with_its_position(text: str, named: str) -> None:
    error = error_of(substitute, text, {}, key=DEF)
    assert error.reason == "InvalidServiceDefinition"
    assert error.message.startswith(f"{DEF}: variable without a value: {named}")


def test_every_missing_variable_of_the_file_is_listed_at_its_place_in_the_file() -> None:
    text = '/* $IGNORED in a comment */ {\n "url": "$U",\n "version": "${V}"}'
    message = error_of(load, text).message
    assert '"U" at line 2, column 10; "V" at line 3, column 14' in message
    assert "IGNORED" not in message


def test_a_defined_empty_metadata_var_is_a_value_but_an_empty_hzn_key_is_unset() -> None:
    hzn = {"HZN_EXCHANGE_URL": "", "MetadataVars": {"EMPTY": ""}}
    assert load(minimal(label="[$EMPTY]"), hzn).label == "[]"
    assert '"HZN_EXCHANGE_URL"' in error_of(load, minimal(label="$HZN_EXCHANGE_URL"), hzn).message


# ---- where variables come from -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hzn", "overrides", "org", "expected"),
    [
        ("V", {"MetadataVars": {"V": "meta"}}, {}, None, "meta"),
        ("V", {"MetadataVars": {"V": "meta"}}, {"V": "override"}, None, "override"),
        ("HZN_ORG_ID", {"HZN_ORG_ID": "top", "MetadataVars": {"HZN_ORG_ID": "meta"}}, {}, None, "top"),
        ("HZN_ORG_ID", {"hzn_org_id": "folded"}, {}, None, "folded"),
        ("HZN_ORG_ID", {"HZN_ORG_ID": "files"}, {}, "spec", "spec"),
        ("HZN_ORG_ID", {"HZN_ORG_ID": "files"}, {"HZN_ORG_ID": "override"}, "spec", "override"),
    ],
)
def test_variable_precedence(
    name: str, hzn: dict[str, Any], overrides: dict[str, str], org: str | None, expected: str
) -> None:
    assert load(minimal(label=f"${name}"), hzn, overrides=overrides, org=org).label == expected


def test_unknown_hzn_json_keys_are_not_variables_and_comments_are_removed() -> None:
    files = {DEF: json.dumps(minimal(label="$FOO")), HZN: '/* note */ {"FOO": "bar", "MetadataVars": {}}'}
    assert '"FOO"' in error_of(load_service_definition, files).message


def test_no_hzn_json_means_no_variables_and_a_custom_key_is_read() -> None:
    files = {"def": json.dumps(minimal(label="$SERVICE_NAME")), "env": '{"MetadataVars": {"SERVICE_NAME": "n"}}'}
    assert load_service_definition(files, definition_key="def", hzn_json_key="env").label == "n"
    assert "SERVICE_NAME" in error_of(load_service_definition, files, definition_key="def").message


def test_hzn_dont_subst_env_vars_turns_expansion_off_as_in_hzn() -> None:
    loaded = load(minimal(label="$NOT_SET costs $5", arch="$ARCH"), overrides={"HZN_DONT_SUBST_ENV_VARS": "1"})
    assert (loaded.label, loaded.arch, loaded.arch_varies) == ("$NOT_SET costs $5", "$ARCH", False)
    assert 'arch is "$ARCH"' in error_of(for_arch, loaded, "amd64").message


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, f"{DEF}: not found in the ConfigMap (its keys: none)"),
        ({HZN: "{}", "other": "x"}, f"{DEF}: not found in the ConfigMap (its keys: hzn.json, other)"),
    ],
)
def test_a_missing_definition_key_is_horizon_files_not_found(files: dict[str, str], message: str) -> None:
    error = error_of(load_service_definition, files)
    assert (error.reason, error.message) == ("HorizonFilesNotFound", message)


# ---- JSON and shape --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "overrides", "fragment"),
    [
        ('{\n  "url": "svc",\n  "version": 1.0.0\n}', {}, "invalid JSON at line 3, column 17: Expecting ',' delimiter"),
        ('/* a\nlong comment */{"url": x}', {}, "invalid JSON at line 2, column 24: Expecting value"),
        ('{"n": $N, "url": "s"}', {"N": "[1,"}, "invalid JSON at line 1, column 9: Expecting value"),
        ('{"n": $N}', {"N": '"open'}, "invalid JSON at line 1, column 7 (in the value of ${N})"),
        ("", {}, "invalid JSON at line 1, column 1"),
        ('{"n": NaN}', {}, "invalid JSON: NaN is not JSON"),
        ("[" * 100_000, {}, "invalid JSON"),
        ('{"n": ' + "9" * 5000 + "}", {}, "invalid JSON"),
        ("[]", {}, "must be a JSON object, not an array"),
    ],
)
def test_invalid_json_is_reported_where_it_is_in_the_file(text: str, overrides: dict[str, str], fragment: str) -> None:
    error = error_of(load, text, overrides=overrides)
    assert error.reason == "InvalidServiceDefinition"
    assert error.message.startswith(f"{DEF}: ")
    assert fragment in error.message


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"public": "true"}, '"public" must be true or false, not a string'),
        ({"org": 7}, '"org" must be a string, not a number'),
        ({"matchHardware": []}, '"matchHardware" must be an object'),
        ({"sharable": "shared"}, 'sharable "shared" is not one of'),
        ({"userInput": {}}, '"userInput" must be an array of objects'),
        ({"userInput": [{"name": "X", "type": "int", "defaultValue": 5}]}, '"userInput[0].defaultValue" must be'),
        ({"userInput": [{"name": "X"}]}, "userInput[0] needs a name and a type"),
        ({"userInput": [{"type": "int"}]}, "userInput[0] needs a name and a type"),
        ({"requiredServices": [{"url": "dep"}]}, "requiredServices[0] needs a url and a version or versionRange"),
        ({"deployment": None}, "has no deployment"),
        ({"deployment": ""}, "has no deployment"),
        ({"deployment": [1]}, "must be either a json object or a string (for pre-signed)"),
        ({"deployment": "[1]"}, "must be either a json object or a string"),
        ({"deployment": "{oops"}, "(deployment string): invalid JSON at line 1, column 2"),
        ({"deployment": {"services": []}}, '"deployment.services" must be an object of containers'),
        ({"deployment": {"services": {"a": "img"}}}, '"deployment.services" must be an object of containers'),
        ({"clusterDeployment": {"operatorYamlArchive": "x.tgz"}}, "clusterDeployment (edge-cluster operator services)"),
    ],
)
def test_shape_errors_name_the_field(fields: dict[str, Any], fragment: str) -> None:
    error = error_of(load, minimal(**fields))
    assert (error.reason, fragment in error.message) == ("InvalidServiceDefinition", True), error.message


def test_keys_match_fields_as_go_does_and_unknown_ones_are_ignored() -> None:
    loaded = load({**minimal(), "URL": "upper", "Public": True, "owner": "ignored", "deploymentSignature": "old"})
    assert (loaded.url, loaded.public) == ("upper", True)


def test_a_pre_signed_string_deployment_is_parsed_to_be_signed_again() -> None:
    deployment = {"services": {"svc": {"image": "r/svc@sha256:" + "a" * 64}}}
    assert load(minimal(deployment=json.dumps(deployment), deploymentSignature="sig")).deployment == deployment


def test_required_services_get_the_version_as_range_the_org_and_the_arch() -> None:
    required = [
        {"url": "dep", "version": "1.0.0", "arch": "$ARCH"},
        {"url": "d2", "org": "other", "versionRange": "[2,3)"},
    ]
    loaded = load(minimal(arch="$ARCH", requiredServices=required))
    assert for_arch(loaded, "arm").required_services == (
        RequiredService("dep", "o", "1.0.0", "1.0.0", "arm"),
        RequiredService("d2", "other", "", "[2,3)", "arm"),
    )


# ---- per arch ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "arch", "fragment"),
    [
        ({"arch": "$ARCH"}, "x86_64", '"x86_64" is not a known architecture'),
        ({"arch": "amd64"}, "arm64", 'arch is "amd64", so this definition cannot be published for arm64'),
        ({"arch": "amd64", "label": "for $ARCH"}, "arm64", 'arch is "amd64"'),
        (
            {"arch": "$ARCH", "requiredServices": [{"url": "d", "version": "1", "arch": "amd64"}]},
            "arm64",
            'required service "d" has arch "amd64", not arm64',
        ),
    ],
)
def test_for_arch_refuses_what_the_exchange_would(fields: dict[str, Any], arch: str, fragment: str) -> None:
    assert fragment in error_of(for_arch, load(minimal(**fields)), arch).message


@pytest.mark.parametrize(("fields", "arch"), [({"arch": "amd64"}, "amd64"), ({"arch": ""}, "riscv64")])
def test_a_fixed_or_empty_arch_publishes_for_that_arch(fields: dict[str, Any], arch: str) -> None:
    assert for_arch(load(minimal(**fields)), arch).arch == arch


# ---- spec over files over defaults -----------------------------------------------------------------

FILE_VALUES = minimal(
    label="File label",
    description="File text",
    documentation="https://docs.example.com",
    public=True,
    sharable="singleton",
    version="1.0.0",
    userInput=[{"name": "F", "type": "int", "defaultValue": "1"}],
    requiredServices=[{"url": "fdep", "version": "1.0.0"}],
)


@pytest.mark.parametrize(
    ("spec", "attribute", "expected"),
    [
        ({}, "label", "File label"),
        ({"label": "Spec label"}, "label", "Spec label"),
        ({"description": "Spec text"}, "description", "Spec text"),
        ({"version": "2.1"}, "version", "2.1"),
        ({"public": False}, "public", False),
        ({}, "public", True),
        ({"sharable": "exclusive"}, "sharable", "exclusive"),
        ({"documentation": "https://spec.example.com"}, "documentation", "https://spec.example.com"),
        ({"userInput": [{"name": "S", "type": "string"}]}, "user_input", (UserInput("S", type="string"),)),
        ({"userInput": []}, "user_input", ()),
        (
            {"requiredServices": [{"url": "sdep", "versionRange": "[1,2)"}]},
            "required_services",
            (RequiredService("sdep", "o", "", "[1,2)", "amd64"),),
        ),
        ({}, "required_services", (RequiredService("fdep", "o", "1.0.0", "1.0.0", "amd64"),)),
    ],
)
def test_spec_wins_over_files(spec: dict[str, Any], attribute: str, expected: Any) -> None:
    merged = merge_with_spec(load(FILE_VALUES), {"url": "svc", **spec}, org="o")
    assert getattr(for_arch(merged, "amd64"), attribute) == expected


def test_defaults_fill_what_neither_gives() -> None:
    merged = merge_with_spec(load(minimal(arch="$ARCH", label="", sharable="")), {"url": "svc"}, org="o")
    one = for_arch(merged, "ppc64le")
    assert (one.label, one.description, one.sharable, one.public) == (
        "svc for ppc64le",
        "svc for ppc64le",
        "multiple",
        False,
    )


@pytest.mark.parametrize(
    ("fields", "spec", "org", "fragment"),
    [
        ({"url": "other"}, {"url": "svc"}, "o", 'url "other" does not match spec.service.url "svc"'),
        ({"org": "other"}, {"url": "svc"}, "o", 'org "other" does not match spec.exchange.org "o"'),
        ({"version": "1.0.0-beta"}, {"url": "svc"}, "o", 'version "1.0.0-beta" is not one the Exchange accepts'),
        ({}, {"url": "svc", "version": "v1"}, "o", 'version "v1"'),
        ({"documentation": "docs.example.com"}, {"url": "svc"}, "o", "is not a URL"),
        ({"url": ""}, {}, "o", "has no url"),
    ],
)
def test_merge_refuses_mismatches(fields: dict[str, Any], spec: dict[str, Any], org: str, fragment: str) -> None:
    error = error_of(merge_with_spec, load(minimal(**fields)), spec, org=org)
    assert error.reason == "InvalidServiceDefinition"
    assert error.message.startswith(f"{DEF}: ")
    assert fragment in error.message


def test_an_empty_file_org_takes_the_spec_org_as_hzn_takes_dash_o() -> None:
    assert merge_with_spec(load(minimal(org="")), {"url": "svc"}, org="o").org == "o"


def test_inline_spec_gets_the_same_defaults_per_arch() -> None:
    spec = {"url": "svc", "version": "1.2.3", "deployment": {"services": {"c": {}}}}
    one = for_arch(for_arch(definition_from_spec(spec, org="o"), "amd64"), "arm64")
    one.deployment["services"]["c"]["image"] = "pinned"
    assert spec["deployment"] == {"services": {"c": {}}}
    one.deployment["services"]["c"].pop("image")
    assert (one.label, one.description, one.arch, one.org, one.deployment) == (
        "svc for arm64",
        "svc for arm64",
        "arm64",
        "o",
        {"services": {"c": {}}},
    )


# ---- properties ------------------------------------------------------------------------------------


@given(st.text(), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=5))
def test_substitution_raises_only_horizon_files_error(text: str, variables: dict[str, str]) -> None:
    with contextlib.suppress(HorizonFilesError):
        substitute(text, variables)


@given(st.text().filter(lambda t: "$" not in t))
def test_text_without_dollar_is_unchanged(text: str) -> None:
    assert substitute(text, {}) == text
    assert substitute(substitute(text, {}), {}) == text


NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
LITERAL = st.from_regex(r"[^$A-Za-z0-9_{}][^${}]{0,6}", fullmatch=True)


VALUE = st.text(max_size=4).filter(lambda v: "$" not in v)


@given(st.lists(st.tuples(NAME, st.booleans(), LITERAL), max_size=6), VALUE)
def test_every_reference_form_is_replaced_by_its_value(parts: list[tuple[str, bool, str]], value: str) -> None:
    text = "".join((f"${{{name}}}" if braced else f"${name}") + literal for name, braced, literal in parts)
    expected = "".join(value + literal for _name, _braced, literal in parts)
    assert substitute(text, {name: value for name, _b, _l in parts}) == expected


@given(st.text(max_size=200), st.dictionaries(NAME, st.text(max_size=8), max_size=4))
def test_loading_raises_only_horizon_files_error(text: str, variables: dict[str, str]) -> None:
    with contextlib.suppress(HorizonFilesError):
        load_service_definition({DEF: text, HZN: text}, overrides=variables)


def test_the_sample_configmap_and_publication_load_for_every_arch() -> None:
    samples = Path(__file__).resolve().parents[2] / "deploy" / "samples"
    files = yaml.safe_load((samples / "50-configmap-horizon-files.yaml").read_text())["data"]
    spec = yaml.safe_load((samples / "51-edgepublication-deployment-policy.yaml").read_text())["spec"]
    ref = spec["service"]["horizonFilesRef"]
    loaded = load_service_definition(
        files, definition_key=ref["serviceDefinitionKey"], hzn_json_key=ref["hznJsonKey"], org=spec["exchange"]["org"]
    )
    merged = merge_with_spec(loaded, spec["service"], org=spec["exchange"]["org"])
    for arch in ("amd64", "arm64"):
        image = for_arch(merged, arch).deployment["services"]["weather"]["image"]
        assert image == f"us.icr.io/horizon-demo-ns/weather_{arch}:2.1.0"
