-- Argo CD health for every ddmsp.io kind (one script, copied into each kind's directory
-- under resource_customizations/ddmsp.io/<Kind>/; tests keep the copies identical).
-- Suspended: paused with the ddmsp.io/paused annotation. Degraded: Stalled=True (a human
-- must act). Healthy: the operator observed this generation and Ready=True. Otherwise
-- Progressing, with the operator's own message.
local meta = obj.metadata or {}
local annotations = meta.annotations or {}
local status = obj.status or {}

if annotations["ddmsp.io/paused"] == "true" or status.phase == "Paused" then
  return {status = "Suspended",
          message = "Paused (annotation ddmsp.io/paused=true): the operator changes nothing"}
end

local ready, stalled, reconciling = nil, nil, nil
for _, c in ipairs(status.conditions or {}) do
  if c.type == "Ready" then
    ready = c
  elseif c.type == "Stalled" then
    stalled = c
  elseif c.type == "Reconciling" then
    reconciling = c
  end
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason or ""
end

if stalled ~= nil and stalled.status == "True" then
  return {status = "Degraded", message = describe(stalled)}
end

if status.observedGeneration == nil or meta.generation == nil
    or status.observedGeneration ~= meta.generation then
  return {status = "Progressing",
          message = "Waiting for the ddmsp operator to observe generation "
            .. tostring(meta.generation or "?")}
end

if ready ~= nil and ready.status == "True" then
  return {status = "Healthy", message = describe(ready)}
end

if reconciling ~= nil and reconciling.status == "True" then
  return {status = "Progressing", message = describe(reconciling)}
end
if ready ~= nil then
  return {status = "Progressing", message = describe(ready)}
end
return {status = "Progressing", message = "Waiting for the ddmsp operator"}
