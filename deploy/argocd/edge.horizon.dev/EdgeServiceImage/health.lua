-- Argo CD health check for edge.horizon.dev/v1alpha1 EdgeServiceImage (Horizon Publisher).
-- It reads what the operator writes: status.observedGeneration and the Ready condition
-- (docs/crd-reference.md). Argo CD runs argocd-cm scripts in gopher-lua (Lua 5.1) with only the base,
-- table and a safe os library, so this script calls no library function (no string.*, no math.*).
-- deploy/argocd/argocd-cm-patch.yaml and argocd-cr-patch.yaml embed this file verbatim: edit it here, run
--   .venv/bin/python -m tests.gitops.argocd_snippets

-- What a Ready=False reason means. Degraded: a person must change the spec, a referenced Secret or
-- ConfigMap, a permission or the registry. Progressing: the operator retries and it clears by itself
-- (an image not pushed yet, a network or server error). A reason not listed is Degraded, so that a new
-- reason gets looked at (and then listed) rather than hidden as progress.
local HEALTH_BY_REASON = {
  InvalidSpec = "Degraded",               -- the spec passes the schema, not the operator's checks
  -- RegistryRouteReady (OpenShift)
  RouteMissing = "Degraded",              -- no default route and ensureDefaultRoute: false
  RegistryNotManaged = "Degraded",        -- the image registry operator is not Managed
  OpenShiftAPIMissing = "Degraded",       -- not an OpenShift cluster: wrong provider
  RouteNotAdmitted = "Degraded",
  WaitingForRoute = "Progressing",
  -- ProjectReady (OpenShift project, IBM Cloud namespace)
  NamespaceNotOwned = "Degraded",         -- exists, not ours (adoptExistingNamespace: false, or another account)
  NamespaceMissing = "Degraded",          -- ensureNamespace: false and it does not exist
  InvalidNamespace = "Degraded",
  NamespaceTerminating = "Progressing",   -- the project is being deleted; it is created again afterwards
  RegistryAPIUnavailable = "Progressing", -- IBM Cloud registry API 5xx or unreachable
  -- ServiceAccountReady, RoleBindingReady, and any API refusal
  Forbidden = "Degraded",                 -- missing RBAC or IBM Cloud role
  Unauthorized = "Degraded",              -- credentials refused
  KubernetesAPIError = "Progressing",     -- any other API server error, retried
  -- TokenReady
  WaitingForTokenController = "Progressing",
  TokenRequestFailed = "Progressing",
  SecretNotFound = "Degraded",            -- a referenced Secret is missing
  APIKeyMissing = "Degraded",
  InvalidAPIKey = "Degraded",             -- IAM refused the API key
  IAMUnavailable = "Progressing",
  IBMCloudProtocolError = "Progressing",
  TLSError = "Degraded",                  -- the certificate does not verify: a CA is missing or wrong
  -- CATrusted, CredentialsReady
  CANotFound = "Degraded",
  CAInvalid = "Degraded",
  InvalidDockerConfig = "Degraded",
  SecretNotOwned = "Degraded",            -- the output Secret exists and belongs to someone else
  -- ImageCopied
  InvalidSource = "Degraded",
  SourceNotFound = "Progressing",         -- not in the source registry yet
  PlatformMismatch = "Degraded",          -- a single-arch source for another arch
  DigestMismatch = "Degraded",            -- the registry served content that is not what its digest says
  CopyFailed = "Progressing",
  -- ImageResolved
  ImageNotFound = "Progressing",          -- not pushed yet: the pipeline's push ends it
  ArchMissing = "Degraded",               -- the pushed index lacks an architecture
  InvalidReference = "Degraded",
  RegistryUnreachable = "Progressing",
  RegistryProtocolError = "Progressing",  -- unexpected answers, 5xx
  -- Ready's own transient reasons
  Pending = "Progressing",
  Waiting = "Progressing",
}

local function text(value)
  if type(value) == "string" then
    return value
  end
  return ""
end

local function table_or_empty(value)
  if type(value) == "table" then
    return value
  end
  return {}
end

local function find_ready(status)
  if type(status.conditions) ~= "table" then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if type(condition) == "table" and condition.type == "Ready" then
      return condition
    end
  end
  return nil
end

local function observed_generation(status, ready)
  if type(status.observedGeneration) == "number" then
    return status.observedGeneration
  end
  if type(ready.observedGeneration) == "number" then
    return ready.observedGeneration
  end
  return nil
end

local hs = {}
local generation = table_or_empty(obj.metadata).generation
local status = table_or_empty(obj.status)
local ready = find_ready(status)
local observed = nil
if ready ~= nil then
  observed = observed_generation(status, ready)
end

if observed == nil or (type(generation) == "number" and observed < generation) then
  hs.status = "Progressing"
  if type(generation) == "number" then
    hs.message = "Waiting for the operator to observe generation " .. generation
  else
    hs.message = "Waiting for the operator to observe this resource"
  end
  return hs
end

local reason = text(ready.reason)
local message = text(ready.message)
if message == "" then
  message = reason
end

-- The operator does not suspend a spec it refuses: InvalidSpec wins over spec.suspend.
if ready.status == "False" and reason == "InvalidSpec" then
  hs.status = "Degraded"
  hs.message = message
  return hs
end

if table_or_empty(obj.spec).suspend == true then
  hs.status = "Suspended"
  if reason == "Suspended" and message ~= "" then
    hs.message = message
  else
    hs.message = "spec.suspend is true: nothing is reconciled"
  end
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready.message)
  return hs
end

if ready.status == "False" then
  hs.status = HEALTH_BY_REASON[reason] or "Degraded"
  hs.message = message
  return hs
end

-- Unknown (or anything else): the operator is still working on it.
hs.status = "Progressing"
hs.message = message
return hs
