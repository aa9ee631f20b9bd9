-- Argo CD health check for edge.horizon.dev/v1alpha1 EdgePublication (Horizon Publisher).
-- It reads what the operator writes: status.observedGeneration and the Ready condition
-- (docs/crd-reference.md). Argo CD runs argocd-cm scripts in gopher-lua (Lua 5.1) with only the base,
-- table and a safe os library, so this script calls no library function (no string.*, no math.*).
-- deploy/argocd/argocd-cm-patch.yaml and argocd-cr-patch.yaml embed this file verbatim: edit it here, run
--   .venv/bin/python -m tests.gitops.argocd_snippets

-- What a Ready=False reason means. Degraded: a person must change the spec, a referenced Secret or
-- ConfigMap, a key, an Exchange permission or the image. Progressing: the operator retries and it clears
-- by itself (the EdgeServiceImage turning Ready, a network or server error). A reason not listed is
-- Degraded, so that a new reason gets looked at (and then listed) rather than hidden as progress.
local HEALTH_BY_REASON = {
  InvalidSpec = "Degraded",                  -- the spec passes the schema, not the operator's checks
  -- ImageReady
  WaitingForImage = "Progressing",           -- the EdgeServiceImage is not Ready yet
  ImageNotFound = "Progressing",             -- no such EdgeServiceImage (yet); also a manifest not found
  ArchNotResolved = "Degraded",              -- a published arch has no digest in the image
  ContainerNotFound = "Degraded",            -- a containers entry is not in the deployment
  UnpinnedImage = "Degraded",                -- a container no image fills names no digest
  InvalidDeployment = "Degraded",
  -- Signed
  SigningKeyNotFound = "Degraded",           -- the key Secret is missing and generateIfMissing is false
  SigningKeyInvalid = "Degraded",
  HorizonFilesNotFound = "Degraded",
  InvalidServiceDefinition = "Degraded",
  -- ServicePublished, KeyPublished, CredentialsPublished, PatternPublished, PolicyPublished
  ExchangeCredentialsNotFound = "Degraded",
  ExchangeUnauthorized = "Degraded",         -- 401: wrong user or password
  ExchangeForbidden = "Degraded",            -- 403
  ExchangeRejected = "Degraded",             -- 400: the Exchange refused the body
  ExchangeNotFound = "Degraded",             -- 404: no such org or resource
  ExchangeConflict = "Degraded",             -- 409: someone else's object
  ExchangeTLSError = "Degraded",             -- the certificate does not verify: a CA is missing or wrong
  ExchangeProtocolError = "Degraded",        -- an answer the operator cannot use
  ExchangeUnreachable = "Progressing",
  ExchangeServerError = "Progressing",       -- 5xx, retried with backoff
  NoCredentials = "Degraded",                -- the image has no credentials to hand to the nodes
  -- CredentialsValid
  CredentialsRejected = "Degraded",          -- the registry refuses the published user or token
  ManifestNotFound = "Progressing",
  ArchMissing = "Degraded",
  TLSError = "Degraded",
  RegistryUnreachable = "Progressing",
  RegistryProtocolError = "Progressing",
  -- any step
  KubernetesAPIError = "Progressing",        -- an API server error reading a Secret or ConfigMap
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
