"""kube-controller-manager, authentication/authorization and OpenShift, on top of the API emulator.

``install(cluster, config)`` wires, through :class:`~horizon_publisher.sandbox.kubeapi.api.Cluster`:

Both flavors
  - RBAC authorizer (``rbac.py``; bootstrap roles in ``rbac_roles.py``), the escalation checks on
    (Cluster)Role(Binding) writes and the clusterrole-aggregation controller (``rbac_cluster.py``);
  - service-account tokens (``tokens.py``/``sa_tokens.py``): RS256 JWTs with the real claims, the
    authenticator, ``serviceaccounts/token`` (TokenRequest) and the tokens controller;
  - TokenReview, SelfSubjectReview, (Self|Local)SubjectAccessReview, SelfSubjectRulesReview (``reviews.py``);
  - ``kube-root-ca.crt`` in every namespace (``ingress_ca.py``), default ServiceAccounts and the
    bootstrap namespaces (``bootstrap.py``).
OpenShift flavor only
  - ``route.openshift.io`` Routes with host allocation and the default router (``routes.py``);
  - ``project.openshift.io`` ProjectRequests/Projects (``projects.py``);
  - ``imageregistry.operator.openshift.io`` Config ``cluster`` + the default-route behaviour and
    ``image.openshift.io`` ImageStreams (``image_registry.py``);
  - ``openshift-config-managed/default-ingress-cert``, builder/deployer SAs, default RoleBindings,
    OpenShift's bootstrap ClusterRoles (self-provisioner, system:image-*, basic-user ...).

Gaps:
  - Tokens: no OIDC discovery/JWKS endpoints; no legacy-token "last used" label tracking and no
    LegacyServiceAccountTokenCleanUp; pod-bound tokens only if ``v1/pods`` is served (the core serves
    no Pods); Node-bound tokens unsupported; no ``warnafter``/extended expiry; no key rotation.
  - TokenReview knows service-account tokens plus whatever ``cluster.authenticate`` knows (not the
    server's admin token, which create_app checks itself).
  - RBAC: no non-resource-URL authorization of HTTP requests (``Authorizer`` carries no path; the
    evaluator and reviews support nonResourceURLs); no impersonation; OpenShift scopes, SCCs and the
    ``authorization.openshift.io`` API are absent; bootstrap roles are trimmed to resources the sandbox
    serves; escalation-check ``CompactRules`` also merges rules that carry resourceNames; the allow
    reason of SubjectAccessReviews is RBAC's only (no OpenShift scope/SCC wording).
  - Projects: no ``watch``; label/field selectors and Table output for ``get``/``list`` only once the
    server post-processes special answers (asked of kube-core); no project request template/limits;
    ``openshift.io/sa.scc.*`` namespace annotations, ``<sa>-dockercfg-*`` pull secrets and
    ``openshift-service-ca.crt`` are not created.
  - Image registry: no registry Deployment/Service objects, no ``spec.routes[]`` extra routes, no
    ``image.config.openshift.io`` externalRegistryHostnames; condition texts approximate the operator;
    ImageStreams get only the name check and ``status.(public)dockerImageRepository`` (no tags/images).
  - Routes: no ``routes/custom-host`` permission check on setting spec.host, no host-format validation,
    no ingress sharding/route selection; the router's admission is the only router.
  - Controllers run on the emulator's loop with call_later; outside a running loop they run at once.
"""

from __future__ import annotations

import time

from horizon_publisher.sandbox.kubeapi.api import Cluster, UserInfo
from horizon_publisher.sandbox.openshift.bootstrap import NamespaceDefaults, seed_namespaces, seed_rbac
from horizon_publisher.sandbox.openshift.config import Clock, SandboxClusterConfig
from horizon_publisher.sandbox.openshift.image_registry import ImageRegistryOperator
from horizon_publisher.sandbox.openshift.ingress_ca import TrustBundlePublisher
from horizon_publisher.sandbox.openshift.projects import Projects
from horizon_publisher.sandbox.openshift.rbac_cluster import (
    AggregationController,
    EscalationCheck,
    RbacAuthorizer,
)
from horizon_publisher.sandbox.openshift.reviews import Reviews
from horizon_publisher.sandbox.openshift.routes import Routes
from horizon_publisher.sandbox.openshift.sa_tokens import (
    ReviewOutcome,
    TokenAuthenticator,
    TokensController,
    token_request_handler,
)
from horizon_publisher.sandbox.openshift.tokens import ServiceAccountTokens

__all__ = ["SandboxClusterConfig", "install"]


def install(cluster: Cluster, config: SandboxClusterConfig | None = None, *, clock: Clock = time.time) -> None:
    """Add the cluster behaviours of ``config.flavor`` to ``cluster`` and seed a fresh cluster's objects.

    Call once, before serving. ``clock`` (epoch seconds) drives token times and timestamps.
    """
    config = (config or SandboxClusterConfig()).with_generated_material()
    tokens = ServiceAccountTokens(
        config.sa_signing_key_pem,
        issuer=config.service_account_issuer,
        api_audiences=(config.api_audience,),
        clock=clock,
    )

    authorizer = RbacAuthorizer(cluster, openshift=config.is_openshift)
    cluster.set_authorizer(authorizer)
    EscalationCheck(cluster, authorizer).install()
    aggregation = AggregationController(cluster)
    aggregation.install()

    authenticator = TokenAuthenticator(cluster, tokens)
    cluster.add_authenticator(authenticator)
    cluster.add_special(
        "v1/serviceaccounts",
        "token",
        "create",
        token_request_handler(cluster, tokens, config.max_token_expiration_seconds),
    )
    TokensController(cluster, tokens, config.root_ca_bundle, config.token_controller_delay_seconds).install()

    def review_token(token: str, audiences: tuple[str, ...]) -> ReviewOutcome:
        outcome = authenticator.review(token, audiences)
        other = getattr(cluster, "authenticate", None)
        if outcome.user is None and not audiences and callable(other):
            user = other(token)
            if isinstance(user, UserInfo):
                return ReviewOutcome(user, tokens.api_audiences)
        return outcome

    Reviews(cluster, authorizer, review_token).install()
    trust = TrustBundlePublisher(cluster, config)
    trust.install()
    defaults = NamespaceDefaults(cluster, config)
    defaults.install()

    registry: ImageRegistryOperator | None = None
    if config.is_openshift:
        Routes(cluster, config, clock).install()
        registry = ImageRegistryOperator(cluster, config, clock)
        registry.install()
        Projects(cluster, authorizer).install()

    seed_rbac(cluster, config)
    aggregation.sync()
    seed_namespaces(cluster, config)
    defaults.sync_all()
    trust.sync_all()
    if registry is not None:
        registry.seed()
