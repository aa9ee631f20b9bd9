"""Every Kubernetes API call in operator/horizon_publisher/ (the sandbox excluded), and where its RBAC rule lives.

Keyed by (module:function, Kube method, first argument as written). ``uses`` maps each Resource constant
the first argument can be to the overlays that need the call:

- BOTH: every provider and the publications, on any cluster (deploy/base);
- OPENSHIFT: only the openshift provider (deploy/overlays/openshift adds the rule);
- NOT_GRANTED: a path no supported cluster reaches; the test asserts no overlay grants it.

test_rbac.py scans the code with ``ast`` and fails when a call is missing here or listed but gone; the
verb comes from the Kube method, resource names from constant name arguments, and kopf's own needs from
its handler registry.
"""

from __future__ import annotations

BOTH = frozenset({"kubernetes", "openshift"})
OPENSHIFT = frozenset({"openshift"})
NOT_GRANTED: frozenset[str] = frozenset()

# Kube method -> RBAC verb (None: discovery, which system:discovery grants every authenticated user).
METHOD_VERBS: dict[str, str | None] = {
    "get": "get",
    "create": "create",
    "merge_patch": "patch",
    "replace": "update",
    "delete": "delete",
    "request_token": "create",  # serviceaccounts/token
    "serves": None,
}

# Why a call is not granted anywhere.
NOT_GRANTED_WHY = {
    ("reconcile/openshift_image.py:project_step", "create", "NAMESPACES"): (
        "fallback for a cluster with routes and the registry operator but no project.openshift.io; "
        "route_step stops first on every cluster without OpenShift's APIs, and OpenShift serves ProjectRequest"
    ),
}

OS = "reconcile/openshift_image.py"
TOKEN = "reconcile/openshift_token.py"
CALLS: dict[tuple[str, str, str], dict[str, frozenset[str]]] = {
    # Helpers every provider uses: the output Secret and CA ConfigMap, renamed objects retired.
    (f"{OS}:ensure_data", "get", "resource"): {"SECRETS": BOTH, "CONFIG_MAPS": BOTH},
    (f"{OS}:ensure_data", "create", "resource"): {"SECRETS": BOTH, "CONFIG_MAPS": BOTH},
    (f"{OS}:ensure_data", "merge_patch", "resource"): {"SECRETS": BOTH, "CONFIG_MAPS": BOTH},
    (f"{OS}:retire", "get", "resource"): {
        "SECRETS": BOTH, "CONFIG_MAPS": BOTH, "SERVICE_ACCOUNTS": OPENSHIFT, "ROLE_BINDINGS": OPENSHIFT,
    },
    (f"{OS}:retire", "delete", "resource"): {
        "SECRETS": BOTH, "CONFIG_MAPS": BOTH, "SERVICE_ACCOUNTS": OPENSHIFT, "ROLE_BINDINGS": OPENSHIFT,
    },
    (f"{OS}:write_credentials", "get", "SECRETS"): {"SECRETS": BOTH},
    (f"{OS}:write_credentials", "delete", "SECRETS"): {"SECRETS": BOTH},
    # The openshift provider's steps.
    (f"{OS}:route_step", "serves", "r"): {"ROUTES": OPENSHIFT, "REGISTRY_CONFIGS": OPENSHIFT},
    (f"{OS}:route_step", "get", "ROUTES"): {"ROUTES": OPENSHIFT},
    (f"{OS}:_ask_for_route", "get", "REGISTRY_CONFIGS"): {"REGISTRY_CONFIGS": OPENSHIFT},
    (f"{OS}:_ask_for_route", "merge_patch", "REGISTRY_CONFIGS"): {"REGISTRY_CONFIGS": OPENSHIFT},
    (f"{OS}:project_step", "get", "NAMESPACES"): {"NAMESPACES": OPENSHIFT},
    (f"{OS}:project_step", "serves", "PROJECT_REQUESTS"): {"PROJECT_REQUESTS": OPENSHIFT},
    (f"{OS}:project_step", "create", "PROJECT_REQUESTS"): {"PROJECT_REQUESTS": OPENSHIFT},
    (f"{OS}:project_step", "create", "NAMESPACES"): {"NAMESPACES": NOT_GRANTED},
    (f"{OS}:_label", "merge_patch", "NAMESPACES"): {"NAMESPACES": OPENSHIFT},
    # A project labelled by another EdgeServiceImage is adopted only once that image is gone.
    (f"{OS}:_other_holder", "get", "SERVICE_IMAGES"): {"SERVICE_IMAGES": OPENSHIFT},
    (f"{OS}:account_step", "get", "SERVICE_ACCOUNTS"): {"SERVICE_ACCOUNTS": OPENSHIFT},
    (f"{OS}:account_step", "create", "SERVICE_ACCOUNTS"): {"SERVICE_ACCOUNTS": OPENSHIFT},
    (f"{OS}:role_binding_step", "get", "ROLE_BINDINGS"): {"ROLE_BINDINGS": OPENSHIFT},
    (f"{OS}:role_binding_step", "delete", "ROLE_BINDINGS"): {"ROLE_BINDINGS": OPENSHIFT},
    (f"{OS}:role_binding_step", "create", "ROLE_BINDINGS"): {"ROLE_BINDINGS": OPENSHIFT},
    (f"{OS}:role_binding_step", "merge_patch", "ROLE_BINDINGS"): {"ROLE_BINDINGS": OPENSHIFT},
    (f"{TOKEN}:_long_lived_token", "get", "SECRETS"): {"SECRETS": OPENSHIFT},
    (f"{TOKEN}:_long_lived_token", "delete", "SECRETS"): {"SECRETS": OPENSHIFT},
    (f"{TOKEN}:_long_lived_token", "create", "SECRETS"): {"SECRETS": OPENSHIFT},
    (f"{TOKEN}:_retire_renamed_secret", "get", "SECRETS"): {"SECRETS": OPENSHIFT},
    (f"{TOKEN}:_retire_renamed_secret", "delete", "SECRETS"): {"SECRETS": OPENSHIFT},
    # A LongLived rotation request: the token Secret goes and the service account is made anew.
    (f"{TOKEN}:_renew_service_account", "delete", "SECRETS"): {"SECRETS": OPENSHIFT},
    (f"{TOKEN}:_renew_service_account", "delete", "SERVICE_ACCOUNTS"): {"SERVICE_ACCOUNTS": OPENSHIFT},
    (f"{TOKEN}:_renew_service_account", "create", "SERVICE_ACCOUNTS"): {"SERVICE_ACCOUNTS": OPENSHIFT},
    (f"{TOKEN}:_renew_service_account", "create", "SECRETS"): {"SECRETS": OPENSHIFT},
    (f"{TOKEN}:_rotating_token", "get", "SECRETS"): {"SECRETS": OPENSHIFT},
    (f"{TOKEN}:_rotating_token", "request_token", "ctx.project"): {"SERVICE_ACCOUNTS": OPENSHIFT},
    (f"{OS}:ca_step", "get", "CONFIG_MAPS"): {"CONFIG_MAPS": OPENSHIFT},
    # The other providers: referenced Secrets and ConfigMaps.
    ("reconcile/generic_image.py:read_ca", "get", "SECRETS if kind == 'Secret' else CONFIG_MAPS"): {
        "SECRETS": BOTH, "CONFIG_MAPS": BOTH,
    },
    ("reconcile/generic_image.py:read_docker_credentials", "get", "SECRETS"): {"SECRETS": BOTH},
    ("reconcile/ibmcloud_image.py:read_api_key", "get", "SECRETS"): {"SECRETS": BOTH},
    # EdgePublication.
    ("reconcile/publication_steps.py:image_ready_step", "get", "SERVICE_IMAGES"): {"SERVICE_IMAGES": BOTH},
    # A publication is read afresh when one of its images changes, and reconciled at once.
    ("handlers/follow_images.py:kick", "get", "PUBLICATIONS"): {"PUBLICATIONS": BOTH},
    ("reconcile/publication_steps.py:image_ready_step", "get", "SECRETS"): {"SECRETS": BOTH},
    ("reconcile/publication_steps.py:image_ready_step", "get", "CONFIG_MAPS"): {"CONFIG_MAPS": BOTH},
    ("reconcile/publication_steps.py:_service_definition", "get", "CONFIG_MAPS"): {"CONFIG_MAPS": BOTH},
    ("reconcile/publication_steps.py:_signing_key", "get", "SECRETS"): {"SECRETS": BOTH},
    ("reconcile/publication_steps.py:_signing_key", "create", "SECRETS"): {"SECRETS": BOTH},
    ("reconcile/publication.py:exchange_endpoint", "get", "SECRETS"): {"SECRETS": BOTH},
    ("reconcile/publication.py:_ca", "get", "SECRETS"): {"SECRETS": BOTH},
    ("reconcile/publication.py:_ca", "get", "CONFIG_MAPS"): {"CONFIG_MAPS": BOTH},
    # EdgeServiceImage deletion: outputs released (Orphan) or deleted, then the project's objects.
    ("reconcile/service_image.py:finalize", "get", "resource"): {
        "SECRETS": BOTH, "CONFIG_MAPS": BOTH, "ROLE_BINDINGS": OPENSHIFT, "SERVICE_ACCOUNTS": OPENSHIFT,
    },
    ("reconcile/service_image.py:finalize", "merge_patch", "resource"): {"SECRETS": BOTH, "CONFIG_MAPS": BOTH},
    ("reconcile/service_image.py:finalize", "delete", "resource"): {
        "SECRETS": BOTH, "CONFIG_MAPS": BOTH, "ROLE_BINDINGS": OPENSHIFT, "SERVICE_ACCOUNTS": OPENSHIFT,
    },
    ("reconcile/service_image.py:finalize", "get", "NAMESPACES"): {"NAMESPACES": OPENSHIFT},
}  # fmt: skip
