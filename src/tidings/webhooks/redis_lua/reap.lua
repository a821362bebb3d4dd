-- Take over a dead node: its unsettled deliveries move to this node, its occupancy goes.
-- ARGV: prefix, dead node id, this node id, force ('1': even if it beats; '0': only if not)
-- Returns {delivery JSON texts, channel ids nobody occupies any more}.
-- Atomic: of two survivors reaping one node, the second finds nothing.
local p, dead, me, force = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if force ~= '1' and redis.call('EXISTS', p .. ':wh:alive:' .. dead) == 1 then
  return {{}, {}}
end
local from = p .. ':wh:pending:' .. dead
local fields = redis.call('HGETALL', from)
local moved = {}
for i = 1, #fields, 2 do
  if dead ~= me then
    redis.call('HSET', p .. ':wh:pending:' .. me, fields[i], fields[i + 1])
  end
  table.insert(moved, fields[i + 1])
end
if dead ~= me then
  redis.call('DEL', from)
  redis.call('SREM', p .. ':wh:owners', dead)
  if #moved > 0 then redis.call('SADD', p .. ':wh:owners', me) end
end
local index = p .. ':wh:node-occ:' .. dead
local vacated = {}
for _, chan in ipairs(redis.call('SMEMBERS', index)) do
  local key = p .. ':wh:occ:{' .. chan .. '}'
  if redis.call('SREM', key, dead) == 1 and redis.call('SCARD', key) == 0 then
    table.insert(vacated, chan)
  end
end
redis.call('DEL', index)
return {moved, vacated}
