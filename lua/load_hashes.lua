-- load_hashes (read-only): the hashes of a batch of rid keys, for the operator views.
-- KEYS  rid keys
-- Returns one flat field/value array per key, in KEYS order; an empty array for a key
-- that is missing or not a hash (a read of a wrong-typed key must not fail the batch).

local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('TYPE', key).ok == 'hash' then
    out[i] = redis.call('HGETALL', key)
  else
    out[i] = {}
  end
end
return out
