-- logout: ends one session.
-- KEYS[1] rid key  (cluster layout: also its user index and device key, as asked)
-- Returns 1 when a session was ended, 0 when the rid is unknown (nothing written).

local h = load_hash(KEYS[1])
if h.userId == nil or h.userId == '' then return 0 end
if not may_end_session(h.userId, h.deviceId) then return need_reply() end
end_session(KEYS[1], h.userId, h.deviceId, 'logout', h.status)
return 1
