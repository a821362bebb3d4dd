-- Take over a dead node's unsettled deliveries, atomically; say which channels it occupied.
-- Its node-wide keys share the hash tag {wh} (one slot on a Redis Cluster):
-- KEYS[1] alive:<dead>  KEYS[2] pending:<dead>  KEYS[3] pending:<me>  KEYS[4] node-occ:<dead>
-- ARGV: dead node id, this node id, force ('1': even if it beats; '0': only if not)
-- Returns {delivery JSON texts, the channel ids it occupied, 1}, or {{}, {}, 0} when it
-- beats (then the caller leaves it alone).
-- Of two survivors reaping one node, the second finds no delivery; the caller then
-- leaves each channel (occupancy.lua 'v': only one of them sees it vacated) and
-- drops the index and the owner entry last, so an interrupted reap is finished by the next.
local dead, me, force = ARGV[1], ARGV[2], ARGV[3]
if force ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  return {{}, {}, 0}
end
local fields = redis.call('HGETALL', KEYS[2])
local moved = {}
for i = 1, #fields, 2 do
  if dead ~= me then
    redis.call('HSET', KEYS[3], fields[i], fields[i + 1])
  end
  table.insert(moved, fields[i + 1])
end
if dead ~= me then
  redis.call('DEL', KEYS[2])
end
return {moved, redis.call('SMEMBERS', KEYS[4]), 1}
